"""Which order a message is about, when that can be known (SPEC §6 "order"); it refuses nothing.

In order of precedence: the order a submission names (a template sent for it
with `relay send`), then one of the pair's orders named in the subject, then the
order of the message it replies to. A subject that names an order is the
writer's own word about this message, while a parent's order is only inherited:
a reply in an old thread whose subject names another order of the pair is about
that one. Otherwise the message names no order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from relay.message import Transaction, header_text
from relay.policy.conversation import standing
from relay.ports import PairLookup


class OrderOf:
    """Sets `tx.order_id`; runs after Threading, which finds the parent and its order."""

    def __init__(self, pairs: PairLookup) -> None:
        self._pairs = pairs

    async def __call__(self, tx: Transaction) -> None:
        route = tx.route
        if route is None or route.relationship_id is None or tx.order_id is not None:
            return
        subject = header_text(tx.parsed, "Subject")
        if subject:
            # The pair's standing the opt-out and orders rules read too: one query for all.
            pair = await standing(tx, self._pairs, route.relationship_id)
            named = named_order(subject, pair.order_ids)
            if named is not None:
                tx.order_id = named
                return
        tx.order_id = tx.parent_order_id


def named_order(subject: str, order_ids: Iterable[str]) -> str | None:
    """The order id the subject names first, as a whole token and in the case it is stored.

    A token ends where letters, digits, `_` and `-` end: "o1" is named in
    "Re: order o1." but not in "o10" or "x-o1".
    """
    found: list[tuple[int, str]] = []
    for order in order_ids:
        match = re.search(rf"(?<![\w-]){re.escape(order)}(?![\w-])", subject)
        if match is not None:
            found.append((match.start(), order))
    return min(found)[1] if found else None
