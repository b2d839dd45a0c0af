"""The quota step: a reservation per seller message, given back when the message stops later."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, timedelta

import pytest

from relay import replies
from relay.intake import Intake
from relay.message import Transaction
from relay.metrics import Metrics
from relay.model import QuotaDecision, QuotaRule, Refusal, Route
from relay.pipeline import Pipeline, Step
from relay.policy.quota import DailyQuota
from relay.replies import Consumed, Deferred, Refused

ROUTE = Route(alias="b@relay.example", kind="seller-to-buyer", relationship_id=1,
              buyer_id="b1", seller_id="s1", recipient="bob@buyer.example",
              sender_addresses=("owner@acme.example",), sender_name="Acme",
              sender_alias="s@relay.example")
BODY = b"From: owner@acme.example\r\nSubject: hi\r\n\r\nhello\r\n"


class Counter:
    """An in-memory QuotaCounter: what the store does, for one process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used: dict[tuple[str, date], int] = {}

    async def reserve(self, seller_id: str, now: datetime, rule: QuotaRule) -> QuotaDecision:
        key = (seller_id, now.date())
        if self.used.get(key, 0) >= self.limit:
            return QuotaDecision(self.limit, granted=False)
        self.used[key] = self.used.get(key, 0) + 1
        return QuotaDecision(self.limit, granted=True)

    async def release(self, seller_id: str, day: date) -> None:
        self.used[seller_id, day] -= 1


class Recorded:
    def __init__(self, fail: bool = False) -> None:
        self.accepted: list[bool] = []
        self.fail = fail

    async def __call__(self, tx: Transaction, *, deliver: bool) -> None:
        if self.fail:
            raise OSError("the store went away")
        self.accepted.append(deliver)


class Refusals:
    """An in-memory RefusalLog."""

    def __init__(self) -> None:
        self.logged: list[Refusal] = []

    async def refused(self, refusal: Refusal) -> None:
        self.logged.append(refusal)


def intake(steps: Sequence[Step], accept: Recorded, refusals: Refusals | None = None) -> Intake:
    return Intake(Pipeline(rcpt=(), data={"seller-to-buyer": tuple(steps)}), accept,
                  routes=None, refusals=refusals or Refusals(), counts=Metrics())  # type: ignore[arg-type]


def tx() -> Transaction:
    return Transaction(id="t1", peer="test", mail_from="owner@acme.example", route=ROUTE,
                       received=BODY)


def stop(exc: BaseException) -> Step:
    async def step(tx: Transaction) -> None:
        raise exc

    return step


class TestDailyQuota:
    async def test_over_the_limit_is_deferred_naming_it(self) -> None:
        counter = Counter(limit=1)
        quota = DailyQuota(counter, QuotaRule(0, 1))
        await quota(tx())
        with pytest.raises(Deferred) as deferred:
            await quota(tx())
        assert deferred.value.reply == replies.daily_limit(1)

    async def test_the_day_is_the_utc_day(self) -> None:
        """23:30 and 00:30 UTC are two days: the second message starts a new count."""
        counter = Counter(limit=1)
        late = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
        await DailyQuota(counter, QuotaRule(0, 1), clock=lambda: late)(tx())
        after = late + timedelta(hours=1)
        await DailyQuota(counter, QuotaRule(0, 1), clock=lambda: after)(tx())
        assert set(counter.used.values()) == {1}


class TestGivenBack:
    @pytest.mark.parametrize("exc", [Refused(replies.S554_MALFORMED),
                                     Deferred(replies.S451_INTERNAL), Consumed(),
                                     RuntimeError("a bug")])
    async def test_a_later_stop_releases_the_reservation(self, exc: BaseException) -> None:
        """Refused, deferred, consumed or failed after the quota step: the count is as before."""
        counter = Counter(limit=5)
        accept = Recorded()
        expect: AbstractContextManager[object] = (
            nullcontext() if isinstance(exc, Consumed) else pytest.raises(type(exc)))
        with expect:
            await intake([DailyQuota(counter, QuotaRule(0, 5)), stop(exc)], accept).data(tx())
        assert set(counter.used.values()) == {0}

    async def test_a_queued_message_keeps_it(self) -> None:
        counter = Counter(limit=5)
        accept = Recorded()
        await intake([DailyQuota(counter, QuotaRule(0, 5))], accept).data(tx())
        assert accept.accepted == [True]
        assert set(counter.used.values()) == {1}

    async def test_a_failed_commit_keeps_it(self) -> None:
        """The commit may have happened: counting one too many is the safe side."""
        counter = Counter(limit=5)
        with pytest.raises(OSError, match="went away"):
            await intake([DailyQuota(counter, QuotaRule(0, 5))], Recorded(fail=True)).data(tx())
        assert set(counter.used.values()) == {1}
