"""A buyer who opted out gets no unsolicited seller mail (SPEC §2.2).

Still delivered: replies in a thread the buyer started or wrote in, and mail
whose `X-Contact-Reason` is critical and allowed for the status of one of the
pair's orders. The reason is then recorded with the message, so a seller who
labels cold mail critical is seen; the rewrite drops the header (X-*).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import structlog

from relay import replies
from relay.message import Transaction, header_text
from relay.policy.conversation import in_buyers_thread, standing
from relay.ports import PairLookup
from relay.replies import Refused

log = structlog.get_logger("relay.policy.optout")

CONTACT_REASON = "X-Contact-Reason"


class OptOut:
    def __init__(self, pairs: PairLookup, domain: str, critical: Iterable[str],
                 allowed: Mapping[str, Iterable[str]]) -> None:
        self._pairs = pairs
        self._domain = domain
        # A reason passes only if it is critical and allowed for some order status.
        allowed_by_name = {reason.lower(): frozenset(s) for reason, s in allowed.items()}
        self._statuses = {reason.lower(): allowed_by_name.get(reason.lower(), frozenset())
                          for reason in critical}

    async def __call__(self, tx: Transaction) -> None:
        route = tx.route
        if route is None or route.relationship_id is None:
            return
        pair = await standing(tx, self._pairs, route.relationship_id)
        if not pair.opted_out or await in_buyers_thread(tx, self._pairs, self._domain):
            return
        reason = (header_text(tx.parsed, CONTACT_REASON) or "").strip().lower()
        if self._statuses.get(reason, frozenset()).intersection(pair.order_statuses):
            tx.contact_reason = reason
            log.info("optout.critical_reason", reason=reason)
            return
        raise Refused(replies.S550_OPTED_OUT)
