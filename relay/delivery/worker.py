"""Delivery workers: claim a due queue entry, hand it to the transport, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import structlog

from relay.config import QueueSettings
from relay.delivery.transport import PermanentFailure, TemporaryFailure, Transport
from relay.store import Delivery, Store

log = structlog.get_logger("relay.delivery")

# Longer than any single delivery may take, so a live worker never loses its claim.
LEASE = timedelta(minutes=10)
POLL_SECONDS = 5.0


class Workers:
    """A pool of delivery loops woken at once when a message is accepted."""

    def __init__(self, store: Store, transport: Transport, settings: QueueSettings) -> None:
        self._store = store
        self._transport = transport
        self._settings = settings
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(self._settings.workers):
                group.create_task(self._loop())

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            # Cleared before looking, so a wake-up during the claim is not lost.
            self._wakeup.clear()
            try:
                claimed = await self._store.claim(datetime.now(UTC), LEASE, 1)
                if claimed:
                    await self.deliver(claimed[0])
                    continue
            except Exception:
                # A store outage must not end delivery: log, wait, try again.
                log.exception("delivery.loop_failed")
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)

    async def deliver(self, delivery: Delivery) -> None:
        bound = log.bind(tx=delivery.message_id, attempt=delivery.attempts)
        try:
            await self._transport.send(delivery.envelope_from, delivery.recipient, delivery.data)
        except TemporaryFailure as failure:
            await self._retry_or_give_up(delivery, str(failure))
        except PermanentFailure as failure:
            bound.warning("delivery.failed", error=str(failure))
            await self._store.failed(delivery, str(failure))
        else:
            await self._store.delivered(delivery)
            bound.info("delivery.done")

    async def _retry_or_give_up(self, delivery: Delivery, error: str) -> None:
        now = datetime.now(UTC)
        backoff = self._settings.backoff
        delay = backoff[min(delivery.attempts - 1, len(backoff) - 1)]
        when = now + timedelta(seconds=delay)
        if when - delivery.created_at > timedelta(seconds=self._settings.max_age):
            log.warning("delivery.expired", tx=delivery.message_id, error=error)
            await self._store.failed(delivery, f"gave up after {delivery.attempts} tries: {error}")
            return
        log.info("delivery.deferred", tx=delivery.message_id, error=error,
                 retry_at=when.isoformat())
        await self._store.retry_at(delivery, when, error)
