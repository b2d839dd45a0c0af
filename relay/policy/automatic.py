"""Auto-replies, read receipts and delivery reports are never passed to the other party.

They are archived, so a dispute can see them, and answered 250 so that no
bounce goes back to an auto-responder (RFC 3834 §2; SPEC §6).
"""

from __future__ import annotations

from relay.delivery.dsn import is_automatic
from relay.message import Transaction


class Automatic:
    async def __call__(self, tx: Transaction) -> None:
        if is_automatic(tx.parsed):
            tx.consumed = True
