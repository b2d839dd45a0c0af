"""Delivery workers against a real store: each message once, and no claim wasted."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from relay.config import QueueSettings
from relay.delivery.bounces import Bouncer
from relay.delivery.heartbeat import Heartbeat
from relay.delivery.worker import BATCH, Workers
from relay.errors import StoreUnavailable
from relay.metrics import Metrics
from relay.model import Delivery
from relay.store import Store
from relay.store.queue import BODY_BUDGET
from tests.unit.store.test_queue import accept


def counting_claims(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Note how many entries each of the real store's claims returned."""
    claims: list[int] = []
    real = store.queue.claim

    async def claim(now: datetime, lease: timedelta, limit: int, holder: int) -> list[Delivery]:
        got = await real(now, lease, limit, holder)
        claims.append(len(got))
        return got

    monkeypatch.setattr(store.queue, "claim", claim)
    return claims


class Recorder:
    def __init__(self, expected: int) -> None:
        self.sent: list[bytes] = []
        self.expected = expected
        self.all_sent = asyncio.Event()

    async def send(self, delivery: Delivery, data: bytes) -> None:
        await asyncio.sleep(0.001)  # an upstream takes a moment: claims pile up meanwhile
        self.sent.append(data)
        if len(self.sent) >= self.expected:
            self.all_sent.set()

    async def close(self) -> None:
        return None


async def test_a_burst_is_delivered_once_in_batches_without_empty_claims(
    store_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(store_url, 35, "relay.example")
    claims = counting_claims(store, monkeypatch)
    count = 3 * BATCH + 3
    transport = Recorder(count)
    workers = Workers(store.queue, transport, QueueSettings(workers=4),
                      Bouncer(store.notices, "mx.relay.example", "relay.example"),
                      Heartbeat(store.processes), Metrics())
    running = asyncio.create_task(workers.run())
    try:
        await asyncio.sleep(0.2)  # every worker's first claim finds nothing
        first = len(claims)
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
    later = claims[first:]
    # After a batch that emptied the queue a worker waits to be woken, not claims again.
    assert later.count(0) <= 4, later


def failing_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Make the real store fail once when a large body is read."""
    broke = asyncio.Event()
    real = store.queue.body

    async def body(delivery: Delivery) -> bytes:
        if delivery.data is None and not broke.is_set():
            broke.set()
            raise StoreUnavailable("the store failed: database is locked")
        return await real(delivery)

    monkeypatch.setattr(store.queue, "body", body)
    return broke


async def test_a_store_failure_mid_batch_gives_the_rest_back_at_once(
    store_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Entries a failing batch never reached are claimable again, not left to their lease."""
    store = Store(store_url, 35, "relay.example")
    broke = failing_once(store, monkeypatch)
    large = [bytes([65 + n]) * (BODY_BUDGET * 2 // 3) for n in range(3)]
    for n, body in enumerate(large):
        await accept(store, f"m{n}", body)
    transport = Recorder(len(large))
    workers = Workers(store.queue, transport, QueueSettings(workers=1),
                      Bouncer(store.notices, "mx.relay.example", "relay.example"),
                      Heartbeat(store.processes), Metrics())
    running = asyncio.create_task(workers.run())
    try:
        await asyncio.wait_for(broke.wait(), 3)
        workers.wake()  # as the next accepted message would
        await asyncio.wait_for(transport.all_sent.wait(), 3)  # far sooner than the lease
    finally:
        workers.stop()
        await running
        await store.close()
    assert sorted(transport.sent) == large
