"""The archive's hash chain: what a record's hashes cover, and checking a chain in order.

Each record stores the SHA-256 of its content (`content_hash`), the chain hash
of the record before it (`prev_hash`) and its own chain hash:

    chain_hash = SHA-256(prev_hash as 32 bytes || header)
    header     = JSON [version, seq, form, message_id, created_at, content_hash]

The header names the content by its hash, not the content itself, so a
redaction can replace the bytes by a tombstone and the chain still holds.
Hashes are lower-case hex. The first record follows GENESIS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

GENESIS = "0" * 64
VERSION = 1
# The form of a record that chains a redaction (relay.archive.redaction writes its content).
REDACTION = "redaction"

Fault = Literal["changed", "removed", "reordered", "rewritten", "cut off"]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stamp(created_at: datetime) -> str:
    """The record's time as the header spells it: UTC, microseconds, a final Z."""
    if created_at.tzinfo is None:
        raise ValueError("a record's time must carry its zone")
    return created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def header(seq: int, form: str, message_id: str | None, created_at: datetime,
           content: str) -> bytes:
    """The canonical bytes of what a record claims: JSON leaves no field boundary in doubt."""
    return json.dumps([VERSION, seq, form, message_id, stamp(created_at), content],
                      separators=(",", ":")).encode()


def link(prev_hash: str, seq: int, form: str, message_id: str | None,
         created_at: datetime, content: str) -> str:
    """The chain hash of a record that follows `prev_hash`."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(header(seq, form, message_id, created_at, content))
    return digest.hexdigest()


@dataclass(frozen=True)
class Record:
    """One archive record as stored, for checking."""

    seq: int
    message_id: str | None
    form: str
    created_at: datetime
    data: bytes
    content_hash: str
    prev_hash: str
    chain_hash: str
    redacted: bool = False

    @property
    def name(self) -> str:
        """How a report names the record: its message, else its place in the chain."""
        return self.message_id if self.message_id is not None else f"#{self.seq}"

    def linked(self) -> str:
        """Its chain hash recomputed from what it stores."""
        return link(self.prev_hash, self.seq, self.form, self.message_id, self.created_at,
                    self.content_hash)


@dataclass(frozen=True)
class Head:
    """The chain's tail (`seq`, `hash`), and where it starts: after `base_seq`/`base_hash`.

    A fresh chain starts at 0/GENESIS; a purge moves the start past what it removed.
    """

    seq: int
    hash: str
    base_seq: int = 0
    base_hash: str = GENESIS


@dataclass(frozen=True)
class Expected:
    """What an external checkpoint saw at one seq: the record's chain hash, and when."""

    hash: str
    at: str


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with a chain: which record, what happened, in words."""

    fault: Fault
    name: str  # a message id, or "#<seq>" for a record of no message or one that is gone
    seq: int
    detail: str
    # When the content was what changed: the hash it has now (it may be another record's).
    found_hash: str | None = None
    # When a record stands where it does not belong: its chain hash, to find its place.
    placed: str | None = None


class Checker:
    """Checks records fed in chain order, one at a time: memory stays constant.

    Feed every record of the chain up to the head's seq, then call `finish`.
    The first problem found is kept; `Problem` says whether a record was
    changed, removed or put in another's place (a diagnosis may look further:
    see `relay.operations.archive`).
    """

    def __init__(self, head: Head, expected: Mapping[int, Expected] | None = None) -> None:
        self.head = head
        # Records an external checkpoint names: seq -> the chain hash it saw, and when.
        self._expected = dict(expected or {})
        self.records = 0
        self.problem: Problem | None = None
        self._seq = head.base_seq
        self._hash = head.base_hash
        self._previous: Record | None = None
        # Redacted records not yet named by a redaction record (which always comes later).
        self._unexplained: dict[int, Record] = {}

    def feed(self, record: Record) -> Problem | None:
        if self.problem is not None:
            return self.problem
        self.records += 1
        self.problem = self._check(record) or self._against_checkpoint(record)
        if record.redacted:
            self._unexplained[record.seq] = record
        elif record.form == REDACTION:
            for seq in redacted_by(record.data):
                self._unexplained.pop(seq, None)
        self._previous = record
        self._seq, self._hash = record.seq, record.chain_hash
        return self.problem

    def finish(self) -> Problem | None:
        """After the last record: the head must name it, else the newest were cut off."""
        if self.problem is None and self._unexplained:
            record = self._unexplained[min(self._unexplained)]
            self.problem = Problem(
                "changed", record.name, record.seq,
                f"record #{record.seq} ({_about(record)}) was changed: it is marked redacted "
                "but no redaction record names it")
        if self.problem is None:
            self.problem = self._beyond_the_end()
        if self.problem is None and (self._seq, self._hash) != (self.head.seq, self.head.hash):
            if self._seq < self.head.seq:
                self.problem = Problem(
                    "removed", f"#{self._seq + 1}", self._seq + 1,
                    f"the chain ends at #{self._seq} but its head says #{self.head.seq}: "
                    f"the newest {self.head.seq - self._seq} record(s) were removed")
            else:
                self.problem = Problem(
                    "changed", self._previous.name if self._previous else f"#{self._seq}",
                    self._seq, f"record #{self._seq} is not the one the chain's head names: "
                    "the newest record was changed or the head was rewritten")
        return self.problem

    def _against_checkpoint(self, record: Record) -> Problem | None:
        seen = self._expected.get(record.seq)
        if seen is None or seen.hash == record.chain_hash:
            return None
        return Problem("rewritten", record.name, record.seq,
                       f"record #{record.seq} ({_about(record)}) is not the record the "
                       f"checkpoint of {seen.at} names: the chain was rewritten up to there")

    def _beyond_the_end(self) -> Problem | None:
        """A checkpoint naming a record past the last one: the newest were cut off."""
        start = (self.head.base_seq, self.head.base_hash)
        for seq in sorted(self._expected):
            seen = self._expected[seq]
            if seq == start[0] and seen.hash != start[1]:
                return Problem("rewritten", f"#{seq}", seq,
                               f"the chain does not start where the checkpoint of {seen.at} "
                               f"says #{seq} was: it was rewritten")
            if seq > self._seq:
                return Problem("cut off", f"#{seq}", seq,
                               f"the checkpoint of {seen.at} names record #{seq}, but the chain "
                               f"ends at #{self._seq}: the newest records were cut off")
        return None

    def _check(self, record: Record) -> Problem | None:
        what = f"record #{record.seq} ({_about(record)})"
        if record.seq > self._seq + 1:
            missing = self._seq + 1
            return Problem("removed", f"#{missing}", missing,
                           f"record #{missing} was removed: the chain goes from "
                           f"#{self._seq} to #{record.seq}")
        if record.seq <= self._seq:
            return Problem("reordered", record.name, record.seq,
                           f"{what} comes after #{self._seq}: its seq was changed")
        if not record.redacted and content_hash(record.data) != record.content_hash:
            return Problem("changed", record.name, record.seq,
                           f"{what} was changed: its content does not match its hash",
                           content_hash(record.data))
        follows = record.prev_hash == self._hash
        sound = record.linked() == record.chain_hash
        if follows and not sound:
            return Problem("changed", record.name, record.seq,
                           f"{what} was changed: its header does not match its chain hash")
        if not follows and sound and self._previous is not None:
            before = self._previous
            return Problem("changed", before.name, before.seq,
                           f"record #{before.seq} ({_about(before)}) was rewritten: "
                           f"#{record.seq} follows a different record")
        if not follows:
            return Problem("reordered", record.name, record.seq,
                           f"{what} was reordered: it does not follow #{self._seq}",
                           placed=record.chain_hash)
        return None


def redacted_by(data: bytes) -> list[int]:
    """The seqs a redaction record's content names (none if it is not one)."""
    try:
        found = json.loads(data)
    except ValueError:
        return []
    records = found.get("records") if isinstance(found, dict) else None
    if not isinstance(records, list):
        return []
    return [seq for seq in records if isinstance(seq, int)]


def _about(record: Record) -> str:
    return (f"message {record.message_id}, {record.form}" if record.message_id is not None
            else record.form)
