"""The archive's hash chain in the database: the one writer every archive record goes through.

`append` is the last step of a writing transaction: it takes the chain's head
row (an UPDATE, which locks it on PostgreSQL until the commit and holds
SQLite's single write lock already), gives the records the next seqs, inserts
them and moves the head. Whoever holds the head row commits before the next
writer reads it, so the chain's order is the commit order, across group
commits and across relay processes sharing one PostgreSQL store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from relay.archive import chain
from relay.store import tables as t

_INSERT = insert(t.ARCHIVE)
_HEAD = t.ARCHIVE_HEAD
HEAD_ID = 1
_TAKE = (update(_HEAD).where(_HEAD.c.id == HEAD_ID)
         .returning(_HEAD.c.seq, _HEAD.c.hash))
_COLUMNS = (t.ARCHIVE.c.seq, t.ARCHIVE.c.message_id, t.ARCHIVE.c.form, t.ARCHIVE.c.created_at,
            t.ARCHIVE.c.data, t.ARCHIVE.c.content_hash, t.ARCHIVE.c.prev_hash,
            t.ARCHIVE.c.chain_hash, t.ARCHIVE.c.redacted_at)


@dataclass(frozen=True)
class NewRecord:
    """A record to chain: its content's hash is taken before the head is locked."""

    message_id: str | None
    form: str
    data: bytes
    created_at: datetime
    content_hash: str

    @classmethod
    def of(cls, message_id: str | None, form: str, data: bytes,
           created_at: datetime) -> NewRecord:
        return cls(message_id, form, data, created_at, chain.content_hash(data))


def append(connection: Connection, records: Sequence[NewRecord]) -> None:
    """Chain `records` after the head, in order, within the caller's transaction."""
    if not records:
        return
    taken = connection.execute(_TAKE.values(seq=_HEAD.c.seq + len(records))).one()
    seq, prev = taken.seq - len(records), taken.hash
    rows = []
    for record in records:
        seq += 1
        linked = chain.link(prev, seq, record.form, record.message_id, record.created_at,
                            record.content_hash)
        rows.append({"seq": seq, "message_id": record.message_id, "form": record.form,
                     "data": record.data, "created_at": record.created_at,
                     "content_hash": record.content_hash, "prev_hash": prev,
                     "chain_hash": linked})
        prev = linked
    connection.execute(_INSERT, rows)
    connection.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(hash=prev))


def head(connection: Connection) -> chain.Head:
    row = connection.execute(
        select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.base_seq, _HEAD.c.base_hash)
        .where(_HEAD.c.id == HEAD_ID)).one()
    return chain.Head(row.seq, row.hash, row.base_seq, row.base_hash)


def page(connection: Connection, after: int, upto: int, limit: int) -> list[chain.Record]:
    """Records after seq `after`, at most seq `upto`, in chain order: a page of a verify."""
    rows = connection.execute(
        select(*_COLUMNS).where(t.ARCHIVE.c.seq > after, t.ARCHIVE.c.seq <= upto)
        .order_by(t.ARCHIVE.c.seq).limit(limit))
    return [_record(row) for row in rows]


def holding(connection: Connection, content_hash: str) -> int | None:
    """The seq of a record whose content hashes to `content_hash` (what a swap leaves)."""
    return connection.scalar(select(t.ARCHIVE.c.seq)
                             .where(t.ARCHIVE.c.content_hash == content_hash)
                             .order_by(t.ARCHIVE.c.seq).limit(1))


def following(connection: Connection, chain_hash: str) -> int | None:
    """The seq of the record whose prev_hash is `chain_hash` (where a moved record belonged)."""
    return connection.scalar(select(t.ARCHIVE.c.seq)
                             .where(t.ARCHIVE.c.prev_hash == chain_hash)
                             .order_by(t.ARCHIVE.c.seq).limit(1))


def _record(row: Any) -> chain.Record:  # a Row of _COLUMNS
    return chain.Record(
        seq=row.seq, message_id=row.message_id, form=row.form, created_at=row.created_at,
        data=row.data, content_hash=row.content_hash, prev_hash=row.prev_hash,
        chain_hash=row.chain_hash, redacted=row.redacted_at is not None)
