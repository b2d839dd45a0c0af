"""The delivery queue: claim due entries under a lease, then settle them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, bindparam, delete, func, select, tuple_, update
from sqlalchemy.orm import Session

from relay.errors import Conflict, NotFound
from relay.model import Backlog, Delivery, MessageStatus, QueueItem
from relay.store import tables as t

_Q = t.QUEUE
_FREE = _Q.c.lease_until.is_(None) | (_Q.c.lease_until < bindparam("now"))
_DUE = (
    select(_Q.c.id)
    .where(_Q.c.next_attempt_at <= bindparam("now"), _FREE)
    .order_by(_Q.c.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
# The outer condition is checked again on the row as it is when updated: on
# PostgreSQL another claimant may have committed since the subquery looked.
_CLAIM = (
    update(_Q)
    .where(_Q.c.id.in_(_DUE), _FREE)
    .values(lease_until=bindparam("until"), holder=bindparam("holder"),
            attempts=_Q.c.attempts + 1)
    .returning(_Q.c.id, _Q.c.message_id, _Q.c.envelope_from, _Q.c.recipient, _Q.c.attempts,
               _Q.c.created_at)
)
_DELIVERED_FORMS = (
    t.ARCHIVE.c.message_id.in_(bindparam("ids", expanding=True)),
    t.ARCHIVE.c.form == "delivered",
)
_BODIES = select(t.ARCHIVE.c.message_id, t.ARCHIVE.c.data).where(*_DELIVERED_FORMS)
_SIZES = select(t.ARCHIVE.c.message_id, func.length(t.ARCHIVE.c.data)).where(*_DELIVERED_FORMS)
# Bodies a claim reads at once: a worker sends its batch one by one, so larger
# ones wait in the store until their turn instead of in memory.
BODY_BUDGET = 1 << 20
_DELIVERED: MessageStatus = "delivered"
_BOUNCED: MessageStatus = "bounced"
_FORGET = delete(_Q).where(_Q.c.id.in_(bindparam("ids", expanding=True)))
_MARK_DELIVERED = (
    update(t.MESSAGES)
    .where(t.MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=_DELIVERED)
)


def claim(connection: Connection, now: datetime, lease: timedelta, limit: int,
          holder: int) -> list[Delivery]:
    """Take up to `limit` due entries for process `holder`, until `now + lease`.

    A lease that runs out frees its entry for others; the holder's heartbeat
    extends it meanwhile (`processes.beat`). One UPDATE takes them, so one
    claimant wins each entry on both backends; on PostgreSQL `FOR UPDATE SKIP
    LOCKED` lets several relays claim side by side without waiting on each other.
    """
    entries = sorted(
        connection.execute(
            _CLAIM, {"now": now, "limit": limit, "until": now + lease, "holder": holder}
        ),
        key=lambda e: int(e.id),
    )
    if not entries:
        return []
    sizes = dict(connection.execute(_SIZES, {"ids": [e.message_id for e in entries]}).all())
    inline, budget = [], BODY_BUDGET
    for e in entries:
        size = sizes.get(e.message_id, 0)
        if size <= budget:
            inline.append(e.message_id)
            budget -= size
    bodies = dict(connection.execute(_BODIES, {"ids": inline}).all()) if inline else {}
    return [
        Delivery(
            queue_id=e.id,
            message_id=e.message_id,
            envelope_from=e.envelope_from,
            recipient=e.recipient,
            attempts=e.attempts,
            data=bodies.get(e.message_id),
            created_at=e.created_at,
            holder=holder,
        )
        for e in entries
    ]


def body(connection: Connection, message_id: str) -> bytes:
    """The delivered form of a claimed message the claim left in the store."""
    found = connection.execute(_BODIES, {"ids": [message_id]}).first()
    if found is None:
        raise NotFound(f"message {message_id} has no delivered form")
    return bytes(found[1])


def delivered(connection: Connection, settled: list[tuple[int, str]]) -> None:
    """Forget delivered entries and mark their messages; a batch, for group commit."""
    connection.execute(_FORGET, {"ids": [queue_id for queue_id, _ in settled]})
    connection.execute(_MARK_DELIVERED, {"ids": [message_id for _, message_id in settled]})


def _claimed(deliveries: list[Delivery]) -> ColumnElement[bool]:
    """Rows still under these very claims: a later claim counts another attempt.

    A holder cut off from the store past its lease must not settle an entry that
    another process (or another of its own workers) has claimed since.
    """
    return tuple_(_Q.c.id, _Q.c.holder, _Q.c.attempts).in_(
        [(d.queue_id, d.holder, d.attempts) for d in deliveries]
    )


def retry_at(session: Session, delivery: Delivery, when: datetime, error: str) -> None:
    session.execute(
        update(_Q)
        .where(_claimed([delivery]))
        .values(next_attempt_at=when, lease_until=None, holder=None, last_error=error)
    )


def failed(session: Session, delivery: Delivery, error: str) -> bool:
    """Give up on a claimed delivery; False if the claim was lost and nothing changed."""
    gone = session.execute(delete(_Q).where(_claimed([delivery])))
    if gone.rowcount == 0:  # type: ignore[attr-defined]
        return False
    _bounced(session, delivery.message_id)
    return True


def _bounced(session: Session, message_id: str) -> None:
    session.execute(
        update(t.MESSAGES).where(t.MESSAGES.c.id == message_id).values(status=_BOUNCED)
    )


def release(session: Session, deliveries: list[Delivery]) -> None:
    """Give claimed entries back without counting an attempt (shutdown)."""
    session.execute(
        update(_Q)
        .where(_claimed(deliveries))
        .values(lease_until=None, holder=None, attempts=_Q.c.attempts - 1)
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
    session.execute(delete(_Q).where(_Q.c.id == entry.id))
    _bounced(session, message_id)


_ITEMS = (
    select(_Q, t.PROCESSES.c.hostname, t.PROCESSES.c.pid)
    .outerjoin(t.PROCESSES, t.PROCESSES.c.id == _Q.c.holder)
    .order_by(_Q.c.next_attempt_at)
)


def items(session: Session, now: datetime) -> list[QueueItem]:
    """The queue, soonest first; a lease shows while it is in force."""
    out = []
    for r in session.execute(_ITEMS):
        held = r.lease_until is not None and r.lease_until >= now
        holder = None
        if held:
            holder = f"process {r.holder}" if r.hostname is None else f"{r.hostname}[{r.pid}]"
        out.append(QueueItem(r.message_id, r.recipient, r.attempts, r.next_attempt_at,
                             r.last_error, r.created_at, holder,
                             r.lease_until if held else None))
    return out


_BACKLOG = select(func.count(), func.min(_Q.c.created_at))


def backlog(connection: Connection) -> Backlog:
    """How many entries the queue holds and when the oldest was queued (metrics, health)."""
    depth, oldest = connection.execute(_BACKLOG).one()
    return Backlog(int(depth), oldest)
