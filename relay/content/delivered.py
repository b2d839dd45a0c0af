"""The last content steps: build the form the recipient gets."""

from __future__ import annotations

from relay.addresses import relay_message_id
from relay.content.rewrite import rewrite
from relay.message import Transaction


class Rewrite:
    """Anonymise and re-address the message for the other party (SPEC §2.4)."""

    def __init__(self, domain: str) -> None:
        self._domain = domain

    async def __call__(self, tx: Transaction) -> None:
        assert tx.route is not None
        tx.delivered = rewrite(
            tx.parsed,
            tx.route,
            message_id=relay_message_id(tx.id, self._domain),
            in_reply_to=tx.in_reply_to,
            references=tx.references,
        )


class Passthrough:
    """Mail for postmaster@ and abuse@ reaches the admin exactly as it was sent."""

    async def __call__(self, tx: Transaction) -> None:
        tx.delivered = tx.received
