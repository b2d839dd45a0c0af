"""Loop detection: refuse mail that has already passed more servers than `server.max_hops`."""

from __future__ import annotations

from relay import replies
from relay.message import Transaction
from relay.replies import Refused


class HopLimit:
    def __init__(self, max_hops: int) -> None:
        self._max = max_hops

    async def __call__(self, tx: Transaction) -> None:
        # RFC 5321 §6.3: counting Received: fields is the standard loop test.
        if len(tx.parsed.get_all("Received") or ()) > self._max:
            raise Refused(replies.S554_LOOP)
