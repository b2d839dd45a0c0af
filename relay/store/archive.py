"""The archive's hash chain in the database: the one writer every archive record goes through.

`append` is the last step of a writing transaction: it takes the chain's head
row (an UPDATE, which locks it on PostgreSQL until the commit and holds
SQLite's single write lock already), gives the records the next seqs, inserts
them and moves the head. Whoever holds the head row commits before the next
writer reads it, so the chain's order is the commit order, across group
commits and across relay processes sharing one PostgreSQL store.

Each engine remembers the head its last append left, so the common case is one
UPDATE that moves the head only if it is still that one (seq and hash), then the
INSERT. An UPDATE that waited for another writer's lock re-reads the row after
that commit and matches nothing; so does a stale memory (another process wrote,
a transaction rolled back): then the head is taken as it is and moved twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from relay.archive import chain, redaction
from relay.errors import Conflict
from relay.model import Redaction
from relay.store import tables as t

_INSERT = insert(t.ARCHIVE)
_HEAD = t.ARCHIVE_HEAD
HEAD_ID = 1
_TAKE = (update(_HEAD).where(_HEAD.c.id == HEAD_ID)
         .returning(_HEAD.c.seq, _HEAD.c.hash))
_MOVE = (update(_HEAD)
         .where(_HEAD.c.id == HEAD_ID, _HEAD.c.seq == bindparam("was_seq"),
                _HEAD.c.hash == bindparam("was_hash"))
         .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))
_SET_HASH = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(hash=bindparam("new_hash"))
# The head each engine's last append left (seq, hash): a guess the UPDATE checks.
_LEFT: WeakKeyDictionary[Engine, tuple[int, str]] = WeakKeyDictionary()
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


def append(connection: Connection, records: Sequence[NewRecord]) -> list[int]:
    """Chain `records` after the head, in order, within the caller's transaction; their seqs."""
    if not records:
        return []
    engine = connection.engine
    left = _LEFT.get(engine)
    if left is not None:
        rows = _linked(*left, records)
        last = rows[-1]
        moved = connection.execute(_MOVE, {"was_seq": left[0], "was_hash": left[1],
                                           "new_seq": last["seq"],
                                           "new_hash": last["chain_hash"]})
        if moved.rowcount == 1:
            connection.execute(_INSERT, rows)
            _LEFT[engine] = (last["seq"], last["chain_hash"])
            return [row["seq"] for row in rows]
    taken = connection.execute(_TAKE.values(seq=_HEAD.c.seq + len(records))).one()
    rows = _linked(taken.seq - len(records), taken.hash, records)
    last = rows[-1]
    connection.execute(_INSERT, rows)
    connection.execute(_SET_HASH, {"new_hash": last["chain_hash"]})
    _LEFT[engine] = (last["seq"], last["chain_hash"])
    return [row["seq"] for row in rows]


def _linked(seq: int, prev: str, records: Sequence[NewRecord]) -> list[dict[str, Any]]:
    """The rows of `records` chained after record `seq` whose chain hash is `prev`."""
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
    return rows


def redact(connection: Connection, message_id: str, reason: str,
           now: datetime) -> Redaction | None:
    """Replace the message's archived content by a tombstone and chain the act (None: unknown).

    The records keep their content hashes, so the chain still verifies; the
    message's subject goes too. A message still queued is refused: its delivery
    would send the tombstone.
    """
    a = t.ARCHIVE.c
    if connection.scalar(select(t.MESSAGES.c.id).where(t.MESSAGES.c.id == message_id)) is None:
        return None
    if connection.scalar(select(t.QUEUE.c.id).where(t.QUEUE.c.message_id == message_id)):
        raise Conflict(f"message {message_id} is still queued for delivery: drop it first "
                       "(relay queue drop), then redact it")
    content = (a.message_id == message_id, a.form != redaction.FORM)
    rows = connection.execute(select(a.seq, a.redacted_at).where(*content).order_by(a.seq)).all()
    if not rows:
        raise Conflict(f"message {message_id} has no archived content to redact")
    done = [row.redacted_at for row in rows if row.redacted_at is not None]
    if len(done) == len(rows):
        raise Conflict(f"message {message_id} was redacted already, on {chain.stamp(done[0])}")
    emptied = connection.execute(
        update(t.ARCHIVE).where(*content, a.redacted_at.is_(None))
        .values(data=redaction.tombstone(message_id, reason, now), redacted_at=now,
                redaction_reason=reason).returning(a.seq)).scalars().all()
    if not emptied:  # another redaction of it committed first
        raise Conflict(f"message {message_id} was redacted already")
    seqs = sorted(emptied)
    connection.execute(update(t.MESSAGES).where(t.MESSAGES.c.id == message_id)
                       .values(subject=None))
    [seq] = append(connection, [NewRecord.of(
        message_id, redaction.FORM, redaction.act(message_id, seqs, reason, now), now)])
    return Redaction(message_id, tuple(seqs), seq, reason, now)


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
        data=_bytes(row.data), content_hash=row.content_hash, prev_hash=row.prev_hash,
        chain_hash=row.chain_hash, redacted=row.redacted_at is not None)


def _bytes(data: bytes | str) -> bytes:
    """A record's content as bytes: SQLite hands back TEXT when someone stored text there."""
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
