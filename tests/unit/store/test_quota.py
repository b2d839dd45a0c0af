"""The daily quota's counters: the limit from orders, the conditional increment, release."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from relay.model import QuotaRule
from relay.store import Store

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# Limit = orders per day: a per-order share of 1 and no base show the count itself.
PER_ORDER = QuotaRule(per_order=1, base=0)


async def _seller(store: Store, orders: int = 0, *, age_days: int = 1,
                  status: str = "unshipped", orders_per_day: int | None = None) -> None:
    await store.directory.put_seller("s1", "Acme Shop", "owner@acme.example", orders_per_day)
    await store.directory.put_buyer("b1", "bob@buyer.example")
    for n in range(orders):
        await store.directory.put_order(f"o{age_days}-{n}", "b1", "s1", status)

    def backdate(connection: Connection) -> None:
        connection.execute(text("UPDATE orders SET created_at = :at WHERE id LIKE :ids"),
                           {"at": NOW - timedelta(days=age_days), "ids": f"o{age_days}-%"})

    await store.database.run_connection(backdate)


async def _limit(store: Store) -> int:
    return (await store.quota.reserve("s1", NOW, PER_ORDER)).limit


class TestLimit:
    async def test_orders_of_30_days_over_30_rounded_up(self, store: Store) -> None:
        """31 orders in the last 30 days are 2 a day (31 / 30, rounded up)."""
        await _seller(store, 31)
        assert await _limit(store) == 2

    async def test_older_and_cancelled_orders_do_not_count(self, store: Store) -> None:
        """Orders past 30 days, and cancelled ones, leave the seller at 1 a day."""
        await _seller(store, 1)
        await _seller(store, 5, age_days=31)
        await _seller(store, 5, age_days=2, status="cancelled")
        assert await _limit(store) == 1

    async def test_the_sellers_setting_wins(self, store: Store) -> None:
        """An explicit orders_per_day replaces the average, even 0."""
        await _seller(store, 40, orders_per_day=0)
        assert await _limit(store) == 0
        await store.directory.put_seller("s1", "Acme Shop", "owner@acme.example", 12)
        assert await _limit(store) == 12

    async def test_the_average_is_counted_once_a_day(self, store: Store) -> None:
        """Orders recorded during the day count from the next day; the setting at once."""
        await _seller(store, 31)
        assert await _limit(store) == 2
        await _seller(store, 60, age_days=0)
        assert await _limit(store) == 2
        tomorrow = await store.quota.reserve("s1", NOW + timedelta(days=1), PER_ORDER)
        assert tomorrow.limit == 4  # 91 orders in the 30 days before
        await store.directory.put_seller("s1", "Acme Shop", "owner@acme.example", 7)
        assert await _limit(store) == 7

    async def test_the_formula(self, store: Store) -> None:
        """orders_per_day * quota_per_order + quota_base, as SPEC §2.2 writes it."""
        await _seller(store, 1)
        decision = await store.quota.reserve("s1", NOW, QuotaRule(per_order=5, base=600))
        assert (decision.limit, decision.granted) == (605, True)


class TestReserve:
    async def test_up_to_the_limit_then_refused(self, store: Store) -> None:
        await _seller(store)
        rule = QuotaRule(per_order=0, base=2)
        granted = [(await store.quota.reserve("s1", NOW, rule)).granted for _ in range(3)]
        assert granted == [True, True, False]
        assert await store.quota.used("s1", NOW.date()) == 2

    async def test_a_zero_limit_grants_nothing(self, store: Store) -> None:
        """No base and no orders: not even the first message, and no row is made."""
        await _seller(store)
        assert not (await store.quota.reserve("s1", NOW, QuotaRule(0, 0))).granted
        assert await store.quota.used("s1", NOW.date()) == 0

    async def test_each_utc_day_counts_anew(self, store: Store) -> None:
        await _seller(store)
        rule = QuotaRule(per_order=0, base=1)
        assert (await store.quota.reserve("s1", NOW, rule)).granted
        assert not (await store.quota.reserve("s1", NOW, rule)).granted
        assert (await store.quota.reserve("s1", NOW + timedelta(days=1), rule)).granted

    async def test_release_gives_one_back_never_below_zero(self, store: Store) -> None:
        await _seller(store)
        rule = QuotaRule(per_order=0, base=1)
        assert (await store.quota.reserve("s1", NOW, rule)).granted
        await store.quota.release("s1", NOW.date())
        await store.quota.release("s1", NOW.date())
        assert await store.quota.used("s1", NOW.date()) == 0
        assert (await store.quota.reserve("s1", NOW, rule)).granted

    async def test_concurrent_reservations_take_exactly_the_limit(self, store: Store) -> None:
        """40 at once against a limit of 9, on days without a row yet: nine granted each day,
        none over and none refused below the limit while another session makes the row."""
        await _seller(store)
        rule = QuotaRule(per_order=0, base=9)
        for offset in range(5):
            now = NOW + timedelta(days=offset)
            decisions = await asyncio.gather(
                *(store.quota.reserve("s1", now, rule) for _ in range(40)))
            assert sum(d.granted for d in decisions) == 9
            assert await store.quota.used("s1", now.date()) == 9
