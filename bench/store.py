"""`python -m bench.store [sqlite|postgresql] [--sessions N] [--messages M]`: the store alone.

Twenty sessions (N) each resolve a route and accept a message, 100 (M) times, as
concurrent SMTP sessions use the store, while four workers claim and settle;
one session shows a message's own cost, with no group commit sharing it. It
prints messages per second, the store's CPU time per message in this process,
and (on PostgreSQL) the connections opened meanwhile. No SMTP, so the figures
move with the store's code only.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.postgres import BenchDatabase
from relay.model import Accepted, ProcessIdentity
from relay.store import Store

SESSIONS, MESSAGES, WORKERS = 20, 100, 4
BODY = b"x" * 5 * 1024


async def _world(store: Store) -> tuple[str, Accepted]:
    await store.upgrade()
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    await store.directory.put_buyer("b1", "bob@buyer.example")
    alias = (await store.directory.aliases("b1", "s1")).buyer_alias
    route = await store.directory.route(alias)
    assert route is not None
    return alias, Accepted("m", route, "owner@acme.example", "hi", None, "<m@relay.example>",
                           None, BODY, BODY, "bounce-m@relay.example")


async def _sessions(store: Store, alias: str, base: Accepted, tag: str) -> None:
    async def session(n: int) -> None:
        for i in range(MESSAGES):
            route = await store.directory.route(alias)
            assert route is not None
            name = f"{tag}-{n}-{i}"
            await store.messages.accept(replace(base, message_id=name, route=route,
                                                relay_message_id=f"<{name}@relay.example>"))

    await asyncio.gather(*(session(n) for n in range(SESSIONS)))


async def _worker(store: Store, me: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        claimed = await store.queue.claim(datetime.now(UTC), timedelta(minutes=1), 8, me)
        if not claimed:
            await asyncio.sleep(0.005)
        for delivery in claimed:
            await store.queue.delivered(delivery)


async def measure(url: str, database: BenchDatabase | None) -> str:
    store = Store(url, 35, "relay.example")
    try:
        alias, base = await _world(store)
        me = await store.processes.register(
            ProcessIdentity("bench", 0, None, None), datetime.now(UTC))
        stop = asyncio.Event()
        workers = [asyncio.create_task(_worker(store, me, stop)) for _ in range(WORKERS)]
        await _sessions(store, alias, base, "warm")  # the pool grows to its size here
        before = None if database is None else await database.usage()
        started, cpu = time.perf_counter(), time.process_time()
        await _sessions(store, alias, base, "run")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        after = None if database is None else await database.usage()
        stop.set()  # settled before the store closes: a cancelled settle would fail
        await asyncio.gather(*workers)
    finally:
        await store.close()
    count = SESSIONS * MESSAGES
    opened = "" if before is None or after is None else (
        f", {after.sessions - before.sessions} connections opened")
    return (f"{count} messages: {count / seconds:.0f} msg/s, "
            f"{cpu / count * 1000:.2f} ms CPU per message{opened}")


async def main(backend: str) -> str:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="relay-bench-store-") as directory:
            return await measure(f"sqlite+aiosqlite:///{Path(directory) / 'relay.db'}", None)
    database = BenchDatabase()
    await database.create()
    try:
        return await measure(database.url, database)
    finally:
        await database.drop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.store")
    parser.add_argument("backend", nargs="?", default="postgresql",
                        choices=("sqlite", "postgresql"))
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--messages", type=int, default=MESSAGES, help="per session")
    args = parser.parse_args()
    SESSIONS, MESSAGES = args.sessions, args.messages
    print(f"{args.backend}: {asyncio.run(main(args.backend))}")
