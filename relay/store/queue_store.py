"""The delivery queue as one object: what workers claim and settle, and the operator's commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from relay.model import Backlog, Delivery, QueuedNotice, QueueItem
from relay.store import notices, queue
from relay.store.batch import GroupCommit
from relay.store.units import Units


class QueueStore:
    """See `relay.ports.DeliveryQueue` for what the workers use."""

    def __init__(self, units: Units) -> None:
        self._units = units
        self._settled: GroupCommit[tuple[int, str]] = GroupCommit(units.batch, queue.delivered)

    async def claim(self, now: datetime, lease: timedelta, limit: int,
                    holder: int) -> list[Delivery]:
        # A lease lost with the machine only means the entry is claimed again.
        return await self._units.light(queue.claim, now, lease, limit, holder)

    async def body(self, delivery: Delivery) -> bytes:
        """The bytes to send for a claimed delivery."""
        if delivery.data is not None:
            return delivery.data
        return await self._units.read(queue.body, delivery.message_id)

    async def delivered(self, delivery: Delivery) -> None:
        """Settle a delivery; concurrent settlements share one commit."""
        await self._settled.submit((delivery.queue_id, delivery.message_id))

    async def retry_at(self, delivery: Delivery, when: datetime, error: str) -> None:
        await self._units.session(queue.retry_at, delivery, when, error)

    async def failed(
        self, delivery: Delivery, error: str, notice: QueuedNotice | None = None
    ) -> bool:
        """Give up on a delivery and, in the same commit, queue the notice to its sender.

        False, and nothing done, if the claim was lost meanwhile: the new holder decides.
        """
        def work(session: Session) -> bool:
            if not queue.failed(session, delivery, error):
                return False
            if notice is not None:
                notices.enqueue(session, notice)
            return True

        return await self._units.session(work)

    async def release(self, deliveries: list[Delivery]) -> None:
        await self._units.session(queue.release, deliveries)

    async def retry_now(self, message_id: str) -> None:
        await self._units.session(queue.retry_now, message_id, _now())

    async def drop(self, message_id: str, notice: QueuedNotice | None = None) -> None:
        now = _now()

        def work(session: Session) -> None:
            queue.drop(session, message_id, now)
            if notice is not None:
                notices.enqueue(session, notice)

        await self._units.session(work)

    async def items(self) -> list[QueueItem]:
        return await self._units.session(queue.items, _now())

    async def backlog(self) -> Backlog:
        return await self._units.read(queue.backlog)

    async def run(self) -> None:
        """The group-commit writer, for the app's task group to own."""
        await self._settled.run()

    async def close(self) -> None:
        await self._settled.close()


def _now() -> datetime:
    return datetime.now(UTC)
