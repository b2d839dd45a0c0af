"""The delivery queue: claim due entries under a lease, then settle them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from relay.store import tables as t
from relay.store.records import Conflict, Delivery, NotFound, QueueItem


def claim(session: Session, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
    """Take up to `limit` due entries; a lease that runs out frees them for others.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several relays claim side by side
    without waiting on each other; the conditional UPDATE in `_take` is what
    guarantees one claimant per entry on both backends.
    """
    q = t.QueueEntry
    due = (
        select(q.id, q.message_id, q.envelope_from, q.recipient, q.attempts, q.created_at)
        .where(q.next_attempt_at <= now, (q.lease_until.is_(None)) | (q.lease_until < now))
        .order_by(q.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    due_rows = session.execute(due).all()
    entries = [e for e in due_rows if _take(session, e.id, e.attempts, now, lease)]
    if not entries:
        return []
    rows = session.execute(
        select(t.ArchivedForm.message_id, t.ArchivedForm.data).where(
            t.ArchivedForm.message_id.in_([e.message_id for e in entries]),
            t.ArchivedForm.form == "delivered",
        )
    )
    bodies = {message_id: data for message_id, data in rows}
    return [
        Delivery(
            queue_id=e.id,
            message_id=e.message_id,
            envelope_from=e.envelope_from,
            recipient=e.recipient,
            attempts=e.attempts + 1,
            data=bodies[e.message_id],
            created_at=e.created_at,
        )
        for e in entries
    ]


def _take(session: Session, queue_id: int, attempts: int, now: datetime,
          lease: timedelta) -> bool:
    """Claim one entry only if nobody else did since we looked.

    SQLite has no row locks, and pysqlite reads outside a transaction, so two
    relays can see the same free entry; this conditional UPDATE lets one win.
    """
    result = session.execute(
        update(t.QueueEntry)
        .where(
            t.QueueEntry.id == queue_id,
            t.QueueEntry.attempts == attempts,
            (t.QueueEntry.lease_until.is_(None)) | (t.QueueEntry.lease_until < now),
        )
        .values(lease_until=now + lease, attempts=attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def delivered(session: Session, settled: list[tuple[int, str]]) -> None:
    """Forget delivered entries and mark their messages; a batch, for group commit."""
    session.execute(
        delete(t.QueueEntry)
        .where(t.QueueEntry.id.in_([queue_id for queue_id, _ in settled]))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(t.Message)
        .where(t.Message.id.in_([message_id for _, message_id in settled]))
        .values(status="delivered")
        .execution_options(synchronize_session=False)
    )


def retry_at(session: Session, queue_id: int, when: datetime, error: str) -> None:
    session.execute(
        update(t.QueueEntry)
        .where(t.QueueEntry.id == queue_id)
        .values(next_attempt_at=when, lease_until=None, last_error=error)
    )


def failed(session: Session, queue_id: int, message_id: str, error: str) -> None:
    session.execute(delete(t.QueueEntry).where(t.QueueEntry.id == queue_id))
    session.execute(
        update(t.Message).where(t.Message.id == message_id).values(status="bounced")
    )


def release(session: Session, queue_ids: list[int]) -> None:
    """Give claimed entries back without counting an attempt (shutdown)."""
    session.execute(
        update(t.QueueEntry)
        .where(t.QueueEntry.id.in_(queue_ids))
        .values(lease_until=None, attempts=t.QueueEntry.attempts - 1)
    )


def retry_now(session: Session, message_id: str, now: datetime) -> None:
    result = session.execute(
        update(t.QueueEntry)
        .where(t.QueueEntry.message_id == message_id)
        .values(next_attempt_at=now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"message {message_id} is not in the queue")


def drop(session: Session, message_id: str, now: datetime) -> None:
    """Take a message out of the queue, unless a worker is delivering it right now."""
    entry = session.scalar(
        select(t.QueueEntry).where(t.QueueEntry.message_id == message_id).with_for_update()
    )
    if entry is None:
        raise NotFound(f"message {message_id} is not in the queue")
    if entry.lease_until is not None and entry.lease_until > now:
        raise Conflict(f"message {message_id} is being delivered right now; try again shortly")
    failed(session, entry.id, message_id, "dropped by the operator")


def items(session: Session) -> list[QueueItem]:
    rows = session.scalars(select(t.QueueEntry).order_by(t.QueueEntry.next_attempt_at))
    return [
        QueueItem(r.message_id, r.recipient, r.attempts, r.next_attempt_at, r.last_error,
                  r.created_at)
        for r in rows
    ]
