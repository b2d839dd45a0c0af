"""Group lookup: reads that arrive while one is in flight share the next query.

Every RCPT resolves its alias in the store, so that a change made with the CLI
counts at once. Under load, each lookup on its own would cost a round trip to
PostgreSQL; here one reader task takes every key pending, reads them in one
query and answers each caller. A lone lookup runs at once, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
ReadMany = Callable[[list[K]], Awaitable[dict[K, V]]]


class GroupLookup(Generic[K, V]):
    def __init__(self, read: ReadMany[K, V], max_batch: int = 64) -> None:
        self._read = read
        self._max = max_batch
        self._pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        """The value read for `key` by a query that began after this call; None if absent."""
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-lookup")
        return await future

    async def _run(self) -> None:
        while self._pending:
            keys = list(self._pending)[: self._max]
            waiting = {key: self._pending.pop(key) for key in keys}
            try:
                found = await self._read(keys)
            except BaseException as exc:  # cancelled by close, too: nobody may wait forever
                failure = exc if isinstance(exc, Exception) else _closed()
                for futures in waiting.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(failure)
                if not isinstance(exc, Exception):
                    raise
                continue
            for key, futures in waiting.items():
                for future in futures:
                    if not future.done():  # its caller may have given up meanwhile
                        future.set_result(found.get(key))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        for futures in self._pending.values():
            for future in futures:
                if not future.done():
                    future.set_exception(_closed())
        self._pending.clear()


def _closed() -> RuntimeError:
    return RuntimeError("the store closed before this lookup")
