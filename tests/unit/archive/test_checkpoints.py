"""Checkpoints: signed lines, the key file, and the writer's schedule."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from relay.archive import checkpoints
from relay.archive.chain import GENESIS, Head
from relay.archive.checkpoints import BadCheckpoint, Checkpoint, Checkpointer


def test_a_line_parses_back_only_under_its_key(tmp_path: Path) -> None:
    key = checkpoints.key(tmp_path / "key")
    point = Checkpoint(7, "ab" * 32, "2026-12-03T10:00:00.000000Z")
    assert checkpoints.parse(point.line(key), key) == point
    with pytest.raises(BadCheckpoint, match="signature"):
        checkpoints.parse(point.line(key), b"x" * 32)
    moved = json.dumps({**json.loads(point.line(key)), "seq": 8})
    with pytest.raises(BadCheckpoint, match="signature"):
        checkpoints.parse(moved, key)
    with pytest.raises(BadCheckpoint, match="not a checkpoint line"):
        checkpoints.parse("hello", key)


def test_the_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "checkpoint.key"
    made = checkpoints.key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert checkpoints.key(path) == made
    checkpoints.check_key_file(path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="readable by others"):
        checkpoints.check_key_file(path)


async def test_the_writer_writes_at_start_each_interval_and_when_stopped(
    tmp_path: Path
) -> None:
    heads = iter(range(100))

    async def head() -> Head:
        return Head(next(heads), GENESIS)

    writer = Checkpointer(head, tmp_path / "points", tmp_path / "key", 0.05)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0.28)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    written = checkpoints.read(tmp_path / "points", checkpoints.load_key(tmp_path / "key"))
    assert len(written) >= 5  # 0 s, 0.05, ... then one more at the stop
    assert [p.seq for p in written] == list(range(len(written)))


async def test_a_failed_checkpoint_is_logged_and_the_writer_goes_on(tmp_path: Path) -> None:
    calls = 0

    async def head() -> Head:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("the store is away")
        return Head(calls, GENESIS)

    writer = Checkpointer(head, tmp_path / "points", tmp_path / "key", 0.05)
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    written = checkpoints.read(tmp_path / "points", checkpoints.load_key(tmp_path / "key"))
    assert written[0].seq == 2
