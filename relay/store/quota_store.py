"""The daily quota as one object: reserve, give back, read; a transaction each."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from relay.model import QuotaDecision, QuotaRule
from relay.store import quota
from relay.store.units import Units


class QuotaStore:
    """See `relay.ports.QuotaCounter`."""

    def __init__(self, units: Units) -> None:
        self._units = units

    async def reserve(self, seller_id: str, now: datetime, rule: QuotaRule) -> QuotaDecision:
        # Each statement of a reservation is atomic alone, and every message of the
        # seller updates the same row: no transaction keeps it locked any longer.
        # Not fsynced on SQLite: a reservation lost with the machine belonged to a
        # message that got no 250; the accept's own commit makes a kept one durable.
        since = now - timedelta(days=quota.WINDOW_DAYS)
        day = now.astimezone(UTC).date()
        return await self._units.statements(quota.reserve, seller_id, day, rule, since)

    async def release(self, seller_id: str, day: date) -> None:
        await self._units.statements(quota.release, seller_id, day)

    async def used(self, seller_id: str, day: date) -> int:
        return await self._units.read(quota.used, seller_id, day)
