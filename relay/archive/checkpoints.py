"""External checkpoints: the chain's head written outside the database, signed.

A chain kept only in the database cannot show that its newest records were
cut off, or that all of it was recomputed. The running relay therefore writes
the head (seq and chain hash, with the time) as a line in its log and in a
checkpoint file, signed with HMAC-SHA256 under a key kept in a file of its own,
never in the database. `relay archive verify --checkpoint FILE` then checks
each line's signature and that the chain still holds record `seq` with hash
`hash`: a shorter chain was cut off, a different hash was rewritten.

A line is JSON: {"seq", "hash", "at", "mac"}; the MAC covers the canonical
JSON [version, seq, hash, at].
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from relay.archive.chain import Head, stamp

VERSION = 1
KEY_BYTES = 32

log = structlog.get_logger("relay.archive")


class BadCheckpoint(ValueError):
    """A checkpoint line that does not parse or is not signed by this key."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str  # the time it was written, as chain.stamp spells it

    def line(self, key: bytes) -> str:
        """The signed line, as written to the file (without its newline)."""
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at,
                           "mac": self._mac(key)}, separators=(",", ":"))

    def _mac(self, key: bytes) -> str:
        signed = json.dumps([VERSION, self.seq, self.hash, self.at], separators=(",", ":"))
        return hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()


def parse(line: str, key: bytes) -> Checkpoint:
    """The checkpoint a line states, once its signature is checked."""
    try:
        found = json.loads(line)
        checkpoint = Checkpoint(found["seq"], found["hash"], found["at"])
        mac = found["mac"]
    except (ValueError, KeyError, TypeError):
        raise BadCheckpoint("it is not a checkpoint line") from None
    if not (isinstance(checkpoint.seq, int) and isinstance(checkpoint.hash, str)
            and isinstance(checkpoint.at, str) and isinstance(mac, str)):
        raise BadCheckpoint("it is not a checkpoint line")
    if not hmac.compare_digest(mac, checkpoint._mac(key)):
        raise BadCheckpoint("its signature does not match this relay's checkpoint key")
    return checkpoint


def read(path: Path, key: bytes) -> list[Checkpoint]:
    """Every checkpoint of a file, in order; a bad line is BadCheckpoint naming its number."""
    found = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                found.append(parse(line, key))
            except BadCheckpoint as exc:
                raise BadCheckpoint(f"{path} line {number}: {exc}") from None
    return found


def load_key(path: Path) -> bytes:
    """The key from its file (hex); OSError or ValueError when it is missing or malformed."""
    key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    if len(key) < KEY_BYTES:
        raise ValueError(f"{path} holds {len(key)} bytes, fewer than {KEY_BYTES}")
    return key


def key(path: Path) -> bytes:
    """The key, made on first use: a new file readable by its owner only (0600)."""
    try:
        return load_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return load_key(path)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(made.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return made


def check_key_file(path: Path) -> None:
    """check-config: a key file that exists must be a key, readable by its owner only."""
    if not path.exists():
        return  # made on first use
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:04o}): chmod 600 it")
    load_key(path)


def append(path: Path, line: str) -> None:
    """One line at the end of the file, on disk before this returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpointer:
    """The relay's writer of checkpoints: one at start, one every `interval`, one at stop.

    A write that fails (the store or the file unreachable) is logged and tried
    again at the next interval: it never stops the relay.
    """

    def __init__(self, head: Callable[[], Awaitable[Head]], file: Path, key_file: Path,
                 interval: float) -> None:
        self._head = head
        self.reconfigure(file, key_file, interval)

    def reconfigure(self, file: Path, key_file: Path, interval: float) -> None:
        """New paths or interval (a reload): they apply from the next checkpoint on."""
        self.file, self.key_file, self.interval = file, key_file, interval

    async def run(self) -> None:
        """Until cancelled; a clean stop (cancellation) writes a last checkpoint."""
        try:
            while True:
                await self._write_logged()
                await asyncio.sleep(self.interval)
        except asyncio.CancelledError:
            await asyncio.shield(self._write_logged())
            raise

    async def _write_logged(self) -> None:
        try:
            await self.write()
        except Exception as exc:  # whatever failed, the relay keeps serving
            log.error("archive.checkpoint_failed", file=str(self.file),
                      error=str(exc) or type(exc).__name__)

    async def write(self) -> Checkpoint:
        """Sign the chain's head now, append it to the file and log it."""
        head = await self._head()
        checkpoint = Checkpoint(head.seq, head.hash, stamp(datetime.now(UTC)))
        signing_key = await asyncio.to_thread(key, self.key_file)
        line = checkpoint.line(signing_key)
        await asyncio.to_thread(append, self.file, line)
        log.info("archive.checkpoint", seq=checkpoint.seq, hash=checkpoint.hash,
                 at=checkpoint.at, mac=json.loads(line)["mac"], file=str(self.file))
        return checkpoint
