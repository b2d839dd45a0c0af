"""The purge's anchor: a checkpoint record saying what a purge removed below it and what it kept.

A purge removes old records, but not those of cases that are not closed, so the
records it leaves below its mark interleave with the gaps it makes: what is
gone is not a prefix. The purge first appends a checkpoint record to the chain
(form "checkpoint", no message), whose content is this document:

    {"version": 1, "through": N, "hash": chain hash of record N,
     "closed_before": T, "kept": K, "kept_digest": D}

- Every record at or below seq N is either gone, or kept, or due to go: a
  record is due to go when it names no message, or its message joined no case,
  or its case was closed before T (`due`). T lies a margin before the purge
  began, so whether a record is due cannot change while the purge runs.
- The K records kept at or below N (those not due), read in seq order, fold to
  D: SHA-256 over each one's seq (8 bytes, big-endian) and chain hash (32
  bytes). A kept record removed, added or changed changes D.
- The chain's head moves its base to (N, hash of N): the records after N still
  link to one another from there, the checkpoint among them, so the checkpoint
  itself cannot be removed or changed unseen.

`relay archive verify` checks below the base against the newest checkpoint: the
present records that are not due must fold to D (records due but not yet
removed, left by a purge that stopped half-way, are accepted), and each of
them must still match its own hashes. A purge checks the same before it
removes anything, so it never makes a tampered archive look whole.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from relay.archive.chain import Head, Problem, Record, content_hash

FORM = "checkpoint"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """What one purge anchored: the seq it purged through, its hash, and the kept records."""

    through: int
    hash: str
    closed_before: datetime
    kept: int
    kept_digest: str

    def content(self) -> bytes:
        """The record's content: canonical JSON, so its hash is stable."""
        return json.dumps({
            "version": VERSION, "through": self.through, "hash": self.hash,
            "closed_before": self.closed_before.astimezone(UTC).isoformat(),
            "kept": self.kept, "kept_digest": self.kept_digest,
        }, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, data: bytes) -> Checkpoint:
        """A checkpoint's content; ValueError when it is not one."""
        try:
            doc = json.loads(data)
            if doc["version"] != VERSION:
                raise ValueError(f"checkpoint version {doc['version']!r}")
            return cls(int(doc["through"]), str(doc["hash"]),
                       datetime.fromisoformat(doc["closed_before"]), int(doc["kept"]),
                       str(doc["kept_digest"]))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None


class Kept:
    """The running fold of the kept records below a checkpoint, in seq order."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.count = 0

    def add(self, seq: int, chain_hash: str) -> None:
        self._digest.update(seq.to_bytes(8, "big"))
        self._digest.update(bytes.fromhex(chain_hash))
        self.count += 1

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()


@dataclass(frozen=True)
class Below:
    """A record at or below the base, as verify reads it: `due` under the checkpoint's rule."""

    record: Record
    due: bool


class AnchorCheck:
    """Checks the records below the chain's base against the newest checkpoint, in seq order.

    Fed one at a time (memory stays constant); `finish` names the first problem.
    """

    def __init__(self, head: Head, checkpoint_seq: int | None, content: bytes | None) -> None:
        self.head = head
        self.seq = checkpoint_seq
        self.kept = Kept()
        self.problem: Problem | None = None
        self.checkpoint: Checkpoint | None = None
        self._last = 0
        if checkpoint_seq is None or content is None:
            self.problem = Problem(
                "removed", f"#{head.base_seq}", head.base_seq,
                f"the chain starts after #{head.base_seq} but no checkpoint says why: "
                "records were removed from its start")
            return
        name = f"#{checkpoint_seq}"
        try:
            found = Checkpoint.parse(content)
        except ValueError as exc:
            self.problem = Problem("changed", name, checkpoint_seq,
                                   f"checkpoint #{checkpoint_seq} cannot be read: {exc}")
            return
        if checkpoint_seq <= head.base_seq or (found.through, found.hash) != (
                head.base_seq, head.base_hash):
            self.problem = Problem(
                "changed", name, checkpoint_seq,
                f"the chain starts after #{head.base_seq} ({head.base_hash}) but its newest "
                f"checkpoint #{checkpoint_seq} says #{found.through} ({found.hash}): "
                "the chain's start was changed")
            return
        self.checkpoint = found

    def feed(self, below: Below) -> Problem | None:
        if self.problem is not None:
            return self.problem
        record = below.record
        if record.seq <= self._last or record.seq > self.head.base_seq:
            self.problem = Problem("reordered", record.name, record.seq,
                                   f"record #{record.seq} is out of place below the checkpoint")
            return self.problem
        self._last = record.seq
        if below.due:
            return None  # due to go: a purge that stopped half-way leaves such records
        what = f"record #{record.seq} ({record.name}, {record.form}), kept below the checkpoint,"
        if not record.redacted and content_hash(record.data) != record.content_hash:
            self.problem = Problem("changed", record.name, record.seq,
                                   f"{what} was changed: its content does not match its hash")
        elif record.linked() != record.chain_hash:
            self.problem = Problem("changed", record.name, record.seq,
                                   f"{what} was changed: its header does not match its hash")
        else:
            self.kept.add(record.seq, record.chain_hash)
        return self.problem

    def finish(self) -> Problem | None:
        """After the last record below the base: the kept ones must be those the checkpoint kept."""
        if self.problem is not None or self.checkpoint is None:
            return self.problem
        expected = self.checkpoint
        if (self.kept.count, self.kept.digest) != (expected.kept, expected.kept_digest):
            assert self.seq is not None
            how = ("removed" if self.kept.count < expected.kept else
                   "added" if self.kept.count > expected.kept else "replaced")
            self.problem = Problem(
                "removed", f"#{self.seq}", self.seq,
                f"checkpoint #{self.seq} kept {expected.kept} record(s) up to "
                f"#{expected.through}, {self.kept.count} are there and they differ: "
                f"a kept record was {how}")
        return self.problem
