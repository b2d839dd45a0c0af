"""Reports on messages, as one object."""

from __future__ import annotations

from relay.model import QueuedNotice, ReportRecord
from relay.store import reports
from relay.store.units import Units


class ReportStore:
    def __init__(self, units: Units) -> None:
        self._units = units

    async def record(self, report: ReportRecord, notice: QueuedNotice | None) -> None:
        """Keep the report and queue its notice in one commit; NotFound if the message is gone."""
        await self._units.session(reports.record, report, notice)
