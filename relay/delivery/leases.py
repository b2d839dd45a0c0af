"""The leases this process holds, and until when each is surely still its own.

A lease in the store runs until a wall-clock time another process compares
with its own clock. Here each one is trusted on the event loop's monotonic
clock instead: from the start of the store call that last set it, for its
length less a margin (clock skew between hosts, and the time the statement
took to reach the database). A send runs inside `guard`, which cuts it off
when that moment comes, so no send of ours is still going when another
process may claim the entry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta


class LeaseLost(Exception):
    """The lease on an entry ran out (or was never ours): hands off it."""


class Leases:
    def __init__(self, lease: float = 30.0, margin: float = 5.0) -> None:
        if not 0 <= margin < lease / 2:
            raise ValueError("the margin must be shorter than half the lease")
        self.length = timedelta(seconds=lease)
        self._trust = lease - margin
        self._fresh = lease / 2
        self._until: dict[int, float] = {}
        self._guards: dict[int, asyncio.Timeout] = {}

    def held(self) -> list[int]:
        return list(self._until)

    def hold(self, queue_ids: Iterable[int], since: float) -> None:
        """Entries just claimed by a store call that began at loop time `since`."""
        for queue_id in queue_ids:
            self._until[queue_id] = since + self._trust

    def renewed(self, queue_ids: Iterable[int], since: float) -> None:
        """The store extended these leases in a call that began at `since`."""
        until = since + self._trust
        for queue_id in queue_ids:
            if self._until.get(queue_id, until) >= until:
                continue  # not ours any more, or already trusted longer
            self._until[queue_id] = until
            guard = self._guards.get(queue_id)
            if guard is not None and not guard.expired():
                guard.reschedule(until)

    def let_go(self, queue_ids: Iterable[int]) -> None:
        """Settled, given back, or lost: no longer renewed."""
        for queue_id in queue_ids:
            self._until.pop(queue_id, None)

    def left(self, queue_id: int) -> float:
        """Seconds for which the entry is surely still ours (negative: it may not be)."""
        return self._until.get(queue_id, float("-inf")) - asyncio.get_running_loop().time()

    def fresh(self, queue_id: int) -> bool:
        """Worth starting a send on: at least half the lease left.

        Less means renewals have been failing for a while, so the store is out
        of reach: a send begun now would likely be cut off half way.
        """
        return self.left(queue_id) >= self._fresh

    @asynccontextmanager
    async def guard(self, queue_id: int) -> AsyncIterator[None]:
        """Run the block only while the lease is surely ours; cut it off when not."""
        timeout = asyncio.timeout_at(self._until.get(queue_id, float("-inf")))
        try:
            async with timeout:
                self._guards[queue_id] = timeout
                yield
        except TimeoutError as exc:
            if timeout.expired():
                raise LeaseLost(f"lease on queue entry {queue_id} ran out") from exc
            raise
        finally:
            self._guards.pop(queue_id, None)
