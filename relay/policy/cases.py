"""Cases (SPEC §6): which case a message joins; a reply in a closed case's thread is refused.

Mail never opens a case. A reply joins its parent's case; any other message, or a
reply whose parent is in no case, joins the relationship's case that is not
closed, if there is one. Closed is final: a reply in a closed case's thread is
refused, and the sender is told that a new message starts a new conversation.
"""

from __future__ import annotations

from relay import replies
from relay.message import Transaction
from relay.ports import CaseLookup
from relay.replies import Refused


class Cases:
    """Sets `tx.case_id`; runs after Threading, which finds the parent (`tx.parent_id`)."""

    def __init__(self, store: CaseLookup) -> None:
        self._store = store

    async def __call__(self, tx: Transaction) -> None:
        route = tx.route
        if route is None or route.relationship_id is None:
            return
        place = await self._store.case_place(route.relationship_id, tx.parent_id)
        if place.parent is not None:
            if place.parent.state == "closed":
                raise Refused(replies.S550_CASE_CLOSED)
            tx.case_id = place.parent.id
        else:
            tx.case_id = place.current.id if place.current is not None else None
