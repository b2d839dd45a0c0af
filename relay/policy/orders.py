"""Orders make the relationship: a seller starts a conversation only about an order (SPEC §2.2).

Any order counts, cancelled or returned ones too: the seller may have to write
about a refund. Without one, the seller may still reply in a thread the buyer
started or wrote in (a question asked before buying). Buyers write freely: this
step is only in the seller-to-buyer tuple.
"""

from __future__ import annotations

from relay import replies
from relay.message import Transaction
from relay.policy.conversation import in_buyers_thread, standing
from relay.ports import PairLookup
from relay.replies import Refused


class OrdersRequired:
    def __init__(self, pairs: PairLookup, domain: str) -> None:
        self._pairs = pairs
        self._domain = domain

    async def __call__(self, tx: Transaction) -> None:
        route = tx.route
        if route is None or route.relationship_id is None:
            return
        pair = await standing(tx, self._pairs, route.relationship_id)
        if pair.order_statuses or await in_buyers_thread(tx, self._pairs, self._domain):
            return
        raise Refused(replies.S550_NO_ORDER)
