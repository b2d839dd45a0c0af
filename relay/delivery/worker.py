"""Delivery workers: claim due queue entries, hand them to the transport, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from relay.config import QueueSettings
from relay.delivery.bounces import Bouncer, enhanced_status
from relay.delivery.heartbeat import Heartbeat
from relay.delivery.leases import LeaseLost
from relay.delivery.transport import PermanentFailure, TemporaryFailure, Transport
from relay.errors import StoreError
from relay.model import Delivery, DeliveryOutcome
from relay.ports import DeliveryQueue

log = structlog.get_logger("relay.delivery")

POLL_SECONDS = 5.0
# Entries one worker claims at a time: fewer claim commits under load, little latency.
BATCH = 8


class Counts(Protocol):
    """What the workers count (relay.metrics.Metrics): each delivery's outcome."""

    def delivery(self, outcome: DeliveryOutcome, queued_at: datetime | None = None) -> None: ...


class Workers:
    """A pool of delivery loops, woken at once when a message is accepted.

    Stopping lets each loop finish the message it is sending; claimed entries
    it has not started return to the queue at once. Claims are leases that the
    heartbeat renews while this process can reach the store; a send runs only
    while its lease is surely ours (see `relay.delivery.leases`).
    """

    def __init__(self, store: DeliveryQueue, transport: Transport, settings: QueueSettings,
                 bouncer: Bouncer, heartbeat: Heartbeat, counts: Counts) -> None:
        self._store = store
        self._counts = counts
        self._heartbeat = heartbeat
        self._leases = heartbeat.leases
        self._transport = transport
        self._settings = settings
        self._bouncer = bouncer
        # One token wakes one idle worker: waking all of them for every message
        # would cost an empty claim transaction each.
        self._tokens: asyncio.Queue[None] = asyncio.Queue(maxsize=settings.workers)
        # Wake-ups since the last claim began. A claim covers every message committed
        # before it, so a worker woken for those would only make an empty claim.
        self._owed = 0
        self._stopping = asyncio.Event()

    def reconfigure(self, settings: QueueSettings, bouncer: Bouncer) -> None:
        """A reload: back-off and max age apply to the next outcome. The pool keeps its size."""
        self._settings = dataclasses.replace(settings, workers=self._settings.workers)
        self._bouncer = bouncer

    def wake(self) -> None:
        self._owed += 1
        with contextlib.suppress(asyncio.QueueFull):  # every worker has one already
            self._tokens.put_nowait(None)

    def stop(self) -> None:
        self._stopping.set()
        for _ in range(self._settings.workers):
            self.wake()

    async def run(self) -> None:
        """Register this process, deliver until stopped, then leave the store."""
        if not await self._register():
            return
        # The heartbeat outlives the loops: the last sends keep their leases to the end.
        loops_done = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._heartbeat.run(loops_done))
                group.create_task(self._loops(loops_done))
        finally:
            with contextlib.suppress(StoreError):  # then our leases run out by themselves
                await self._heartbeat.deregister()

    async def _register(self) -> bool:
        """Until registered (True) or stopped (False): a store down at start is waited for."""
        while not self._stopping.is_set():
            try:
                await self._heartbeat.register()
                return True
            except StoreError as exc:
                log.warning("delivery.register_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), POLL_SECONDS)
        return False

    async def _loops(self, done: asyncio.Event) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self._settings.workers):
                    group.create_task(self._loop())
        finally:
            done.set()

    async def _claim(self) -> list[Delivery]:
        since = asyncio.get_running_loop().time()
        claimed = await self._store.claim(datetime.now(UTC), self._leases.length, BATCH,
                                          self._heartbeat.holder)
        self._leases.hold((d.queue_id for d in claimed), since)
        return claimed

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._owed = 0
                claimed = await self._claim()
                full = len(claimed) == BATCH
                if full:
                    self.wake()  # there may be more: another worker takes the next batch
                await self._deliver_all(claimed)
                if full:
                    continue
                # The queue held no more than this when we claimed; what was accepted
                # since woke us, so waiting saves an empty claim after every batch.
            except StoreError:
                # A store outage must not end delivery: log, wait, try again. Anything
                # else is a bug: it ends the relay's task group, loudly.
                log.exception("delivery.loop_failed")
            await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        """Until a wake-up no claim has covered yet, or POLL_SECONDS (retries fall due)."""
        while not self._stopping.is_set():
            try:
                # A token put while we were claiming is still there: no wake-up is lost.
                await asyncio.wait_for(self._tokens.get(), POLL_SECONDS)
            except TimeoutError:
                return
            if self._owed:
                return

    async def _deliver_all(self, claimed: list[Delivery]) -> None:
        try:
            await self._deliver_each(claimed)
        finally:
            self._leases.let_go(d.queue_id for d in claimed)

    async def _deliver_each(self, claimed: list[Delivery]) -> None:
        for n, delivery in enumerate(claimed):
            if self._stopping.is_set():
                await self._store.release(claimed[n:])
                return
            if not self._leases.fresh(delivery.queue_id):
                # The heartbeat has not reached the store for a while: send nothing
                # more that might outlast our leases. Others take these when they end.
                with structlog.contextvars.bound_contextvars(tx=delivery.message_id):
                    log.warning("delivery.cut_off", left=len(claimed) - n)
                await self._give_back(claimed[n:])
                return
            try:
                data = await self._store.body(delivery)
            except StoreError:
                await self._give_back(claimed[n:])
                raise
            try:
                await self.deliver(delivery, data)
            except StoreError:
                # This one may have reached the upstream: its lease decides. The rest
                # are untouched and go back now rather than wait out the lease.
                await self._give_back(claimed[n + 1 :])
                raise

    async def _give_back(self, deliveries: list[Delivery]) -> None:
        if deliveries:
            with contextlib.suppress(StoreError):  # then the lease frees them
                await self._store.release(deliveries)

    async def deliver(self, delivery: Delivery, data: bytes) -> None:
        # Every line about this delivery, the store's and the notice's too, names it.
        with structlog.contextvars.bound_contextvars(tx=delivery.message_id,
                                                     attempt=delivery.attempts):
            await self._deliver(delivery, data)

    async def _deliver(self, delivery: Delivery, data: bytes) -> None:
        try:
            async with self._leases.guard(delivery.queue_id):
                await self._transport.send(delivery, data)
        except LeaseLost:
            # Cut off before another process may claim it; what the upstream got of
            # it is discarded unless it had the final dot (the duplicate window).
            log.warning("delivery.lease_lost")
        except TemporaryFailure as failure:
            await self._retry_or_give_up(delivery, str(failure))
        except PermanentFailure as failure:
            log.warning("delivery.failed", error=str(failure))
            await self._give_up(delivery, str(failure), enhanced_status(str(failure), "5.0.0"),
                                "bounced")
        else:
            # The one duplicate window: upstream said 250, this commit has not happened yet.
            await self._store.delivered(delivery)
            self._counts.delivery("delivered", delivery.created_at)
            log.info("delivery.done")

    async def _retry_or_give_up(self, delivery: Delivery, error: str) -> None:
        now = datetime.now(UTC)
        backoff = self._settings.backoff
        delay = backoff[min(delivery.attempts - 1, len(backoff) - 1)]
        when = now + timedelta(seconds=delay)
        if when - delivery.created_at > timedelta(seconds=self._settings.max_age):
            log.warning("delivery.expired", error=error)
            # RFC 3463 4.4.7: delivery time expired.
            await self._give_up(delivery, f"gave up after {delivery.attempts} tries: {error}",
                                "4.4.7", "expired")
            return
        log.info("delivery.deferred", error=error, retry_at=when.isoformat())
        await self._store.retry_at(delivery, when, error)
        self._counts.delivery("deferred")

    async def _give_up(self, delivery: Delivery, error: str, status: str,
                       outcome: DeliveryOutcome) -> None:
        try:
            notice = await self._bouncer.notice_for(delivery.message_id, status, f"smtp; {error}")
        except ValueError:
            # build_notice refuses a notice that would show a hidden address: better none.
            log.exception("notice.refused")
            notice = None
        if not await self._store.failed(delivery, error, notice):
            log.warning("delivery.claim_lost")  # another process has it now
            return
        self._counts.delivery(outcome)
        if notice is not None:
            log.info("notice.queued", notice=notice.message_id)
            self.wake()
