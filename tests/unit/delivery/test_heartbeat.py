"""A dead process's claims go to the living within one lease; a cut-off one stops sending.

Leases here last 1.5 s instead of 30 s; everything else is the real store.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relay.config import QueueSettings
from relay.delivery import worker
from relay.delivery.bounces import Bouncer
from relay.delivery.heartbeat import Heartbeat, alive, identity
from relay.delivery.transport import Transport
from relay.delivery.worker import Workers
from relay.errors import StoreUnavailable
from relay.metrics import Metrics
from relay.model import Delivery, ProcessIdentity, QueueItem
from relay.store import Store
from tests.smtp.upstream import Certificates, Stalling, make_certificates
from tests.smtp.upstream import Upstream as SmtpSink
from tests.unit.delivery.test_transport import smtp
from tests.unit.store.test_queue import accept

LEASE, MARGIN = 1.5, 0.3
FAST_LEASE = timedelta(seconds=LEASE)
LONG_LEASE = timedelta(minutes=10)
DOMAIN = "relay.example"


def fast(store: Store, me: ProcessIdentity | None = None) -> Heartbeat:
    return Heartbeat(store.processes, interval=0.2, lease=LEASE, margin=MARGIN, identity=me)


class Upstream:
    """A transport that takes `seconds` per message, or never answers (None)."""

    def __init__(self, seconds: float | None = 0.0) -> None:
        self.seconds = seconds
        self.started: list[bytes] = []
        self.sent: list[bytes] = []
        self.cut_at: datetime | None = None
        self.busy = asyncio.Event()
        self.cut = asyncio.Event()

    async def send(self, delivery: Delivery, data: bytes) -> None:
        self.started.append(data)
        self.busy.set()
        try:
            await asyncio.sleep(3600 if self.seconds is None else self.seconds)
        except asyncio.CancelledError:
            self.cut_at = datetime.now(UTC)
            self.cut.set()
            raise
        self.sent.append(data)

    async def close(self) -> None:
        return None


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "POLL_SECONDS", 0.2)


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two processes' views of one store: the relay's and another's."""
    mine, other = Store(store_url, 35, DOMAIN), Store(store_url, 35, DOMAIN)
    yield mine, other
    await mine.close()
    await other.close()


def workers_on(store: Store, transport: Transport, heartbeat: Heartbeat) -> Workers:
    return Workers(store.queue, transport, QueueSettings(workers=1),
                   Bouncer(store.notices, "mx.relay.example", DOMAIN), heartbeat,
                   Metrics())


async def queue_of(store: Store) -> dict[str, QueueItem]:
    return {item.message_id: item for item in await store.queue.items()}


async def test_a_long_send_keeps_its_lease_while_the_heartbeat_beats(
    stores: tuple[Store, Store],
) -> None:
    store, other = stores
    await accept(store, "m1", b"slow")
    transport = Upstream(seconds=4.0)  # more than two leases
    workers = workers_on(store, transport, fast(store))
    running = asyncio.create_task(workers.run())
    try:
        await asyncio.wait_for(transport.busy.wait(), 5)
        intruder = await other.processes.register(ProcessIdentity("mx2", 2, None, None),
                                                  datetime.now(UTC))
        while not transport.sent:
            assert await other.queue.claim(datetime.now(UTC), FAST_LEASE, 8, intruder) == []
            await asyncio.sleep(0.3)
        while await other.queue.items():  # noqa: ASYNC110 - polling the store
            await asyncio.sleep(0.05)
    finally:
        workers.stop()
        await running
    assert transport.sent == [b"slow"]


def cut_off(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on every call this process makes to the store fails."""
    async def unreachable(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("cannot reach the store: connection refused")

    for concern, names in ((store.queue, ("claim", "body", "delivered", "retry_at", "failed",
                                          "release")),
                           (store.processes, ("register", "beat", "on_node", "forget"))):
        for name in names:
            monkeypatch.setattr(concern, name, unreachable)


async def test_a_process_cut_off_from_the_store_stops_sending_before_its_lease_ends(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, other = stores
    await accept(store, "m1", b"first")
    await accept(store, "m2", b"second")
    transport = Upstream(seconds=None)  # the upstream hangs in the middle of the first
    workers = workers_on(store, transport, fast(store))
    running = asyncio.create_task(workers.run())
    try:
        await asyncio.wait_for(transport.busy.wait(), 5)
        cut_off(store, monkeypatch)
        await asyncio.sleep(0.3)  # a beat in flight lands
        held = await queue_of(other)
        await asyncio.wait_for(transport.cut.wait(), 5)
        until = held["m1"].lease_until
        assert transport.cut_at is not None
        assert until is not None
        assert transport.cut_at < until  # before anyone else may claim it
        last = max(i.lease_until or until for i in held.values())
        await asyncio.sleep((last - datetime.now(UTC)).total_seconds() + 0.05)
        taker = await other.processes.register(ProcessIdentity("mx2", 2, None, None),
                                               datetime.now(UTC))
        taken = await other.queue.claim(datetime.now(UTC), FAST_LEASE, 8, taker)
    finally:
        workers.stop()
        await running
    assert transport.started == [b"first"]  # nothing more began once cut off
    assert sorted((d.message_id, d.attempts) for d in taken) == [("m1", 2), ("m2", 2)]


async def test_a_send_cut_off_reaches_the_upstream_once_from_the_next_holder(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The whole path over real SMTP: cut off before its final dot, the message is
    dropped by the upstream, and the process that takes the entry over sends it once."""
    store, other = stores
    await accept(store, "m1", b"Subject: once\r\n\r\nonce\r\n")
    certificates: Certificates = make_certificates(tmp_path)
    sink = SmtpSink(certificates)
    sink.handler = stalled = Stalling()
    await sink.start()
    transports = [smtp(sink.port, certificates, tmp_path) for _ in range(2)]
    cut = workers_on(store, transports[0], fast(store))
    cut_running = asyncio.create_task(cut.run())
    taker = workers_on(other, transports[1], fast(other))
    try:
        await asyncio.wait_for(stalled.stalled.wait(), 5)
        cut_off(store, monkeypatch)
        await asyncio.wait_for(stalled.dropped.wait(), LEASE + 1)  # cut off, connection closed
        stalled.go.set()
        await asyncio.sleep(MARGIN)  # the lease runs out in the store
        taker_running = asyncio.create_task(taker.run())
        await stalled.wait_for(1, seconds=LEASE + 3)
        await asyncio.sleep(0.5)
        taker.stop()
        await taker_running
    finally:
        cut.stop()
        await cut_running
        for transport in transports:
            await transport.close()
        await sink.stop()
    assert [m.data.endswith(b"once\r\n") for m in stalled.messages] == [True]


async def test_what_a_silent_process_held_is_delivered_by_another_within_a_lease(
    stores: tuple[Store, Store],
) -> None:
    """No restart, no other machine's help: its heartbeat stopped, so its leases run out."""
    store, other = stores
    for n in range(3):
        await accept(store, f"m{n}", f"body {n}".encode())
    silent = fast(store, ProcessIdentity("gone", 1, None, None))
    await silent.register()
    claimed = await store.queue.claim(datetime.now(UTC), silent.leases.length, 8, silent.holder)
    assert len(claimed) == 3  # and then it beats no more, as after kill -9
    transport = Upstream()
    workers = workers_on(other, transport, fast(other))
    start = asyncio.get_running_loop().time()
    running = asyncio.create_task(workers.run())
    try:
        async with asyncio.timeout(LEASE + 3):
            while len(transport.sent) < 3:  # noqa: ASYNC110 - polling the transport
                await asyncio.sleep(0.05)
    finally:
        workers.stop()
        await running
    assert asyncio.get_running_loop().time() - start >= LEASE - MARGIN
    assert sorted(transport.sent) == [b"body 0", b"body 1", b"body 2"]


async def test_a_process_frees_at_once_what_a_dead_one_on_its_machine_held(
    store: Store,
) -> None:
    """After kill -9 and a restart, the predecessor's claims do not wait out their lease."""
    for n in range(2):
        await accept(store, f"m{n}")
    dead = await asyncio.create_subprocess_exec("sleep", "60")
    living = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        now = datetime.now(UTC)
        ids = [await store.processes.register(identity(p.pid), now) for p in (dead, living)]
        for holder in ids:
            assert len(await store.queue.claim(now, LONG_LEASE, 1, holder)) == 1
        dead.kill()
        await dead.wait()
        restarted = Heartbeat(store.processes)
        await restarted.register()
        items = await queue_of(store)
        assert [items[m].holder for m in ("m0", "m1")] == [
            None, f"{identity(living.pid).hostname}[{living.pid}]"]
        await restarted.deregister()
    finally:
        living.kill()
        await living.wait()



async def test_workers_wait_for_a_store_down_at_start_and_still_stop(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, _ = stores
    cut_off(store, monkeypatch)
    workers = workers_on(store, Upstream(), fast(store))
    running = asyncio.create_task(workers.run())
    await asyncio.sleep(0.5)  # registering fails, and is tried again
    assert not running.done()
    workers.stop()
    await asyncio.wait_for(running, 2)


async def test_a_process_is_taken_for_dead_only_when_surely_gone() -> None:
    me = identity(os.getpid())
    child = await asyncio.create_subprocess_exec("sleep", "60")
    running = identity(child.pid)
    child.kill()
    await child.wait()
    assert alive(me)
    assert alive(replace(me, pid_started=None))  # start time unknown: cannot tell
    assert not alive(replace(me, pid_started=(me.pid_started or 0) + 1))  # PID reused
    assert not alive(running)  # gone
