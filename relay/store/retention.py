"""The archive's retention in the database: what a purge may remove, its anchor, the removal.

A record is due to go (`relay.archive.anchor`) unless its message belongs to a
case that is not closed, or that was closed at or after `closed_before`.
Removal runs in batches, each its own short transaction. Functions here take
the caller's connection and never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, not_, or_, select, update

from relay.archive.anchor import FORM
from relay.errors import Conflict
from relay.store import archive
from relay.store import tables as t

_A, _M, _C, _H = t.ARCHIVE.c, t.MESSAGES.c, t.CASES.c, t.ARCHIVE_HEAD.c


def _held(closed_before: datetime) -> Any:
    """The message's case keeps it: not closed, or closed too recently for this purge."""
    return and_(_M.case_id.is_not(None), exists().where(
        _C.id == _M.case_id, or_(_C.state != "closed", _C.updated_at >= closed_before)))


def _protected(closed_before: datetime) -> Any:
    """A record whose message a case keeps (a record of no message never is)."""
    return exists().where(_M.id == _A.message_id, _held(closed_before))


def latest_checkpoint(connection: Connection) -> tuple[int, bytes] | None:
    """The newest checkpoint record: its seq and content."""
    row = connection.execute(select(_A.seq, _A.data).where(_A.form == FORM)
                             .order_by(_A.seq.desc()).limit(1)).first()
    return None if row is None else (int(row[0]), bytes(row[1]))


def due(connection: Connection, seqs: list[int], closed_before: datetime) -> set[int]:
    """Which of these records are due to go."""
    if not seqs:
        return set()
    return set(connection.scalars(select(_A.seq).where(
        _A.seq.in_(seqs), not_(_protected(closed_before)))))


def mark(connection: Connection, base: int, upto: int, cutoff: datetime) -> int:
    """The highest seq N (base <= N <= upto) such that every record in (base, N] is older
    than `cutoff`: a purge's mark, below which only old records lie."""
    first = connection.scalar(select(func.min(_A.seq)).where(
        _A.seq > base, _A.seq <= upto, _A.created_at >= cutoff))
    return upto if first is None else max(base, int(first) - 1)


def chain_hash(connection: Connection, seq: int) -> str | None:
    return connection.scalar(select(_A.chain_hash).where(_A.seq == seq))


def standing(
    connection: Connection, after: int, upto: int, closed_before: datetime, limit: int,
) -> list[tuple[int, str, bool]]:
    """(seq, chain hash, due) of the records after `after` up to `upto`, in seq order."""
    held = _protected(closed_before)
    rows = connection.execute(
        select(_A.seq, _A.chain_hash, held.label("held"))
        .where(_A.seq > after, _A.seq <= upto).order_by(_A.seq).limit(limit))
    return [(int(seq), str(linked), not held_) for seq, linked, held_ in rows]


def anchor(connection: Connection, base: int, through: int, hash_at: str, content: bytes,
           now: datetime) -> None:
    """Move the chain's start to `through` and append the checkpoint saying so.

    Refused (Conflict) when the start moved since `base` was read: another purge ran.
    """
    moved = connection.execute(
        update(t.ARCHIVE_HEAD).where(_H.id == archive.HEAD_ID, _H.base_seq == base)
        .values(base_seq=through, base_hash=hash_at))
    if moved.rowcount != 1:
        raise Conflict("another purge moved the archive's start meanwhile; run it again")
    archive.append(connection, [archive.NewRecord.of(None, FORM, content, now)])


def purge_records(connection: Connection, through: int, closed_before: datetime,
                  limit: int) -> int:
    """Remove up to `limit` records due to go, at or below `through`; how many went."""
    ids = list(connection.scalars(
        select(_A.id).where(_A.seq <= through, not_(_protected(closed_before)))
        .order_by(_A.seq).limit(limit)))
    if ids:
        connection.execute(delete(t.ARCHIVE).where(_A.id.in_(ids)))
    return len(ids)


def purge_messages(connection: Connection, cutoff: datetime, closed_before: datetime,
                   limit: int) -> int:
    """Remove up to `limit` message rows older than `cutoff`, due to go and without
    archive records left (a refused one never had any), with their queue rows and
    the reports about them."""
    ids = list(connection.scalars(
        select(_M.id).where(
            _M.received_at < cutoff, not_(_held(closed_before)),
            ~exists().where(_A.message_id == _M.id))
        .limit(limit)))
    if ids:
        reports = t.REPORTS.c
        # A report goes with the message it is about; a notice that goes leaves the
        # report of a message still kept (its case is open) without its notice.
        connection.execute(update(t.REPORTS).where(reports.notice_id.in_(ids))
                           .values(notice_id=None))
        connection.execute(delete(t.REPORTS).where(reports.message_id.in_(ids)))
        connection.execute(delete(t.QUEUE).where(t.QUEUE.c.message_id.in_(ids)))
        connection.execute(delete(t.MESSAGES).where(_M.id.in_(ids)))
    return len(ids)
