"""A seller's daily message quota (SPEC §2.2), counted before the 250 and given back on refusal.

The step reserves one message of the seller's UTC day with a conditional
increment (atomic in the store, across sessions and relay processes) and
registers the release on the transaction: intake runs it if a later step
refuses, defers or consumes the message. It sits last before the content
steps, so that most refusals come before it. A crash between the reservation
and the 250 counts one message that was never accepted: the safe side.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from relay import replies
from relay.message import Transaction
from relay.model import QuotaRule
from relay.ports import QuotaCounter
from relay.replies import Deferred


def utcnow() -> datetime:
    return datetime.now(UTC)


class DailyQuota:
    def __init__(self, counter: QuotaCounter, rule: QuotaRule,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._counter = counter
        self._rule = rule
        self._clock = clock

    async def __call__(self, tx: Transaction) -> None:
        route = tx.route
        if route is None or route.seller_id is None:
            return
        now = self._clock().astimezone(UTC)
        decision = await self._counter.reserve(route.seller_id, now, self._rule)
        if not decision.granted:
            raise Deferred(replies.daily_limit(decision.limit))
        tx.undo.append(partial(self._counter.release, route.seller_id, now.date()))
