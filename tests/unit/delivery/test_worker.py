"""Delivery workers against a real store: each message once, and no claim wasted."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from relay.config import QueueSettings
from relay.delivery.bounces import Bouncer
from relay.delivery.worker import BATCH, Workers
from relay.errors import StoreUnavailable
from relay.model import Delivery
from relay.store import Store
from relay.store.queue import BODY_BUDGET
from tests.unit.store.test_queue import accept


class CountingStore(Store):
    """The real store, noting how many entries each claim returned."""

    claims: list[int]

    async def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        got = await super().claim(now, lease, limit)
        self.claims.append(len(got))
        return got


class Recorder:
    def __init__(self, expected: int) -> None:
        self.sent: list[bytes] = []
        self.expected = expected
        self.all_sent = asyncio.Event()

    async def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        await asyncio.sleep(0.001)  # an upstream takes a moment: claims pile up meanwhile
        self.sent.append(data)
        if len(self.sent) >= self.expected:
            self.all_sent.set()

    async def close(self) -> None:
        return None


async def test_a_burst_is_delivered_once_in_batches_without_empty_claims(
    store_url: str,
) -> None:
    store = CountingStore(store_url, 35, "relay.example")
    store.claims = []
    count = 3 * BATCH + 3
    transport = Recorder(count)
    workers = Workers(store, transport, QueueSettings(workers=4),
                      Bouncer(store, "mx.relay.example", "relay.example"))
    running = asyncio.create_task(workers.run())
    try:
        await asyncio.sleep(0.05)  # every worker's first claim finds nothing
        first = len(store.claims)
        for n in range(count):
            await accept(store, f"m{n:02d}", f"body {n}".encode())
            workers.wake()
        await asyncio.wait_for(transport.all_sent.wait(), 30)
        await asyncio.sleep(0.05)
    finally:
        workers.stop()
        await running
        await store.close()
    assert sorted(transport.sent) == sorted(f"body {n}".encode() for n in range(count))
    later = store.claims[first:]
    # After a batch that emptied the queue a worker waits to be woken, not claims again.
    assert later.count(0) <= 4, later


class FlakyBodies(Store):
    """The real store, failing once when a large body is read."""

    broke: asyncio.Event

    async def body(self, delivery: Delivery) -> bytes:
        if delivery.data is None and not self.broke.is_set():
            self.broke.set()
            raise StoreUnavailable("the store failed: database is locked")
        return await super().body(delivery)


async def test_a_store_failure_mid_batch_gives_the_rest_back_at_once(store_url: str) -> None:
    """Entries a failing batch never reached are claimable again, not left to their lease."""
    store = FlakyBodies(store_url, 35, "relay.example")
    store.broke = asyncio.Event()
    large = [bytes([65 + n]) * (BODY_BUDGET * 2 // 3) for n in range(3)]
    for n, body in enumerate(large):
        await accept(store, f"m{n}", body)
    transport = Recorder(len(large))
    workers = Workers(store, transport, QueueSettings(workers=1),
                      Bouncer(store, "mx.relay.example", "relay.example"))
    running = asyncio.create_task(workers.run())
    try:
        await asyncio.wait_for(store.broke.wait(), 3)
        workers.wake()  # as the next accepted message would
        await asyncio.wait_for(transport.all_sent.wait(), 3)  # far sooner than the lease
    finally:
        workers.stop()
        await running
        await store.close()
    assert sorted(transport.sent) == large
