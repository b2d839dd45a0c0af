"""Group commit: writes that arrive while a commit is in flight share the next one.

One fsync per message caps a durable queue at the disk's fsync rate. Here a
single writer task takes everything pending, writes it in one transaction and
commits once; each caller still returns only after its own write is durable.
With one client there is no waiting: a lone write commits at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")
Run = Callable[[Callable[[Connection], None]], Awaitable[None]]
WriteBatch = Callable[[Connection, list[T]], None]


class GroupCommit(Generic[T]):
    def __init__(self, run: Run, write: WriteBatch[T], max_batch: int = 256) -> None:
        self._run_unit = run
        self._write = write
        self._max = max_batch
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise what its write raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wakeup.set()
        self._writer()
        # Shielded: a client that hangs up mid-commit must not cancel other writes.
        await asyncio.shield(future)

    async def run(self) -> None:
        """Wait on the writer, starting it if need be, so that a task group sees it fail.

        Cancelling this leaves the writer running: writes still in flight at
        shutdown finish, and `close` ends it.
        """
        await asyncio.shield(self._writer())

    def _writer(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit")
        return self._task

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch, self._pending = self._pending[: self._max], self._pending[self._max :]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        items = [item for item, _ in batch]
        try:
            await self._run_unit(lambda connection: self._write(connection, items))
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # One bad write must not fail its neighbours: redo them one by one.
            for entry in batch:
                await self._commit([entry])
            return
        for _, future in batch:
            _settle(future, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._pending:
            _settle(future, RuntimeError("the store closed before this write"))
        self._pending.clear()


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
