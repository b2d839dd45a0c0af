"""Relay processes as one object: registration and the heartbeat that renews their leases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from relay.model import ProcessIdentity, ProcessRecord
from relay.store import processes
from relay.store.units import Units


class ProcessStore:
    """See `relay.ports.ProcessRegistry`. Heartbeats are light writes, as claims are."""

    def __init__(self, units: Units) -> None:
        self._units = units

    async def register(self, me: ProcessIdentity, now: datetime,
                       forget_before: datetime | None = None) -> int:
        """Add this process, first removing registrations silent since `forget_before`."""
        def work(connection: Connection) -> int:
            if forget_before is not None:
                processes.forget_silent(connection, forget_before)
            return processes.register(connection, me, now)

        return await self._units.core(work)

    async def beat(self, me: int, held: list[int], now: datetime,
                   until: datetime) -> list[int] | None:
        return await self._units.light(processes.beat, me, held, now, until)

    async def on_node(self, node: str) -> list[ProcessRecord]:
        return await self._units.core(processes.on_node, node)

    async def forget(self, process_ids: list[int]) -> None:
        await self._units.core(processes.forget, process_ids)
