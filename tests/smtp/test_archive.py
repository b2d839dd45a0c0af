"""The archive's hash chain over real SMTP traffic: `relay archive verify` finds each tampering.

The relay writes the chain; each test then changes the database as an
intruder would and runs the real CLI, which must name the record and exit 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory, compose
from tests.smtp.process import RelayProcess, write_config
from tests.smtp.test_durability import Spawn, seed
from tests.smtp.test_durability import spawn as spawn  # the fixture, for the two-process test


@dataclass(frozen=True)
class Verdict:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def verify(config: Path, *args: str) -> Verdict:
    """`relay archive verify` as a subprocess, against the store in `config`."""
    return await cli(config, "archive", "verify", *args)


async def cli(config: Path, *args: str) -> Verdict:
    """`relay ARGS...` as a subprocess, against the store in `config`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Verdict(proc.returncode, out.decode(), err.decode())


@pytest.fixture
def config(store_url: str, tmp_path: Path) -> Path:
    """The CLI's configuration: the test's store and the relay's checkpoint key (conftest)."""
    return write_config(tmp_path / "cli.toml", {
        "store": {"url": store_url}, "aliases": {"domain": "relay.example"},
        "archive": {"checkpoint_key_file": str(tmp_path / "archive-checkpoint.key")}})


async def sql(world: World, statement: str, **params: Any) -> list[Any]:
    def run(connection: Connection) -> list[Any]:
        result = connection.execute(text(statement), params)
        return [tuple(r) for r in result] if result.returns_rows else []

    return await world.relay.store.database.run_connection(run)


async def traffic(world: World, count: int = 3) -> list[tuple[int, str, str]]:
    """Mail both ways over SMTP, delivered; the chain as (seq, message, form)."""
    async with Client(world.port) as c:
        for n in range(count):
            assert (await c.send(SELLER, world.aliases.buyer_alias, compose(
                SELLER, world.aliases.buyer_alias, body=f"seller {n}\n"))).code == 250
            assert (await c.send(BUYER, world.aliases.seller_alias, compose(
                BUYER, world.aliases.seller_alias, body=f"buyer {n}\n"))).code == 250
    await world.upstream.handler.wait_for(2 * count, seconds=30)
    return [(r[0], r[1], r[2]) for r in await sql(
        world, "SELECT seq, message_id, form FROM archive ORDER BY seq")]


async def broken(config: Path, fault: str) -> str:
    """Verify must fail naming `fault`; the JSON's first_bad."""
    found = await verify(config)
    assert found.status == 1, found
    assert found.out.startswith("broken: "), found.out
    assert fault in found.out, found.out
    as_json = await verify(config, "--json")
    assert as_json.status == 1
    assert as_json.err == ""
    document = as_json.json()
    assert set(document) == {"ok", "records", "first_bad"}
    assert document["ok"] is False
    first_bad: str = document["first_bad"]
    return first_bad


class TestVerify:
    async def test_an_untouched_chain_verifies(self, world: World, config: Path) -> None:
        chain = await traffic(world)
        assert [seq for seq, _, _ in chain] == list(range(1, 13))
        found = await verify(config, "--json")
        assert (found.status, found.err) == (0, "")
        assert found.json() == {"ok": True, "records": 12, "first_bad": None}
        plain = await verify(config)
        assert plain.status == 0
        assert plain.out.startswith("ok: 12 records"), plain

    async def test_an_empty_chain_verifies(self, world: World, config: Path) -> None:
        found = await verify(config, "--json")
        assert found.json() == {"ok": True, "records": 0, "first_bad": None}

    async def test_a_changed_byte_of_a_record_is_named(self, world: World, config: Path
                                                       ) -> None:
        chain = await traffic(world)
        seq, message, _ = chain[4]
        [(data,)] = await sql(world, "SELECT data FROM archive WHERE seq = :s", s=seq)
        changed = bytes(data).replace(b"seller", b"sellex", 1)
        assert changed != bytes(data)
        await sql(world, "UPDATE archive SET data = :d WHERE seq = :s", d=changed, s=seq)
        assert await broken(config, "changed") == message

    async def test_a_record_edited_as_text_is_named(self, world: World, config: Path) -> None:
        """SQLite's replace() stores TEXT in the blob column: still a change, not a crash."""
        if not world.relay.settings.store.url.startswith("sqlite"):
            pytest.skip("a bytea column holds no text")
        chain = await traffic(world)
        seq, message, _ = chain[4]
        await sql(world, "UPDATE archive SET data = replace(data, 'seller', 'sellex') "
                         "WHERE seq = :s", s=seq)
        [(kind,)] = await sql(world, "SELECT typeof(data) FROM archive WHERE seq = :s", s=seq)
        assert kind == "text"
        assert await broken(config, "changed") == message

    async def test_a_changed_header_field_is_named(self, world: World, config: Path) -> None:
        chain = await traffic(world)
        seq, message, form = chain[3]
        assert form == "delivered"
        await sql(world, "UPDATE archive SET form = 'received' WHERE seq = :s", s=seq)
        assert await broken(config, "changed") == message

    async def test_a_changed_time_is_named(self, world: World, config: Path) -> None:
        chain = await traffic(world)
        seq, message, _ = chain[7]
        [(stamp,)] = await sql(world, "SELECT created_at FROM archive WHERE seq = :s", s=seq)
        await sql(world, "UPDATE archive SET created_at = :t WHERE seq = :s",
                  t=_later(stamp), s=seq)
        assert await broken(config, "changed") == message

    async def test_a_deleted_record_is_named_by_its_place(self, world: World, config: Path
                                                          ) -> None:
        await traffic(world)
        await sql(world, "DELETE FROM archive WHERE seq = 5")
        assert await broken(config, "removed") == "#5"

    async def test_a_deleted_newest_record_is_seen_from_the_head(
        self, world: World, config: Path
    ) -> None:
        chain = await traffic(world)
        await sql(world, "DELETE FROM archive WHERE seq = :s", s=chain[-1][0])
        assert await broken(config, "removed") == f"#{chain[-1][0]}"

    async def test_two_records_with_swapped_data_are_named(self, world: World, config: Path
                                                          ) -> None:
        chain = await traffic(world)
        (a, message, _), (b, _, _) = chain[1], chain[6]
        rows = dict(await sql(world, "SELECT seq, data FROM archive WHERE seq IN (:a, :b)",
                              a=a, b=b))
        await sql(world, "UPDATE archive SET data = :d WHERE seq = :s", d=rows[b], s=a)
        await sql(world, "UPDATE archive SET data = :d WHERE seq = :s", d=rows[a], s=b)
        assert await broken(config, "reordered") == message

    async def test_two_records_with_swapped_places_are_named(self, world: World, config: Path
                                                             ) -> None:
        chain = await traffic(world)
        (a, _, _), (b, moved, _) = chain[2], chain[8]
        await sql(world, "UPDATE archive SET seq = -1 WHERE seq = :a", a=a)
        await sql(world, "UPDATE archive SET seq = :a WHERE seq = :b", a=a, b=b)
        await sql(world, "UPDATE archive SET seq = :b WHERE seq = -1", b=b)
        assert await broken(config, f"reordered: it does not follow #{a - 1}; it belongs at "
                            f"#{b}") == moved  # now standing at #a

    async def test_a_record_rewritten_with_its_hashes_is_seen_by_the_next(
        self, world: World, config: Path
    ) -> None:
        """Recomputing the changed record's own hashes breaks its successor's link."""
        from relay.archive import chain as rules

        chain = await traffic(world)
        seq, message, form = chain[3]
        [(created, prev)] = await sql(
            world, "SELECT created_at, prev_hash FROM archive WHERE seq = :s", s=seq)
        forged = b"Subject: nothing happened\r\n\r\nall fine\r\n"
        content = rules.content_hash(forged)
        linked = rules.link(prev, seq, form, message, _aware(created), content)
        await sql(world, "UPDATE archive SET data = :d, content_hash = :c, chain_hash = :h "
                  "WHERE seq = :s", d=forged, c=content, h=linked, s=seq)
        assert await broken(config, "rewritten") == message


class TestRedact:
    async def test_a_redacted_message_shows_its_tombstone_and_the_chain_still_verifies(
        self, world: World, config: Path, tmp_path: Path
    ) -> None:
        chain = await traffic(world)
        _, message, _ = chain[2]  # the buyer's first message: "buyer 0"
        done = await cli(config, "archive", "redact", message, "--reason", "GDPR request 17",
                         "--json")
        assert (done.status, done.err) == (0, "")
        redacted = done.json()
        assert (redacted["message"], redacted["records"], redacted["redaction"]) == (
            message, [3, 4], 13)
        rows = await sql(world, "SELECT seq, form, data, redaction_reason FROM archive "
                         "WHERE message_id = :m ORDER BY seq", m=message)
        assert [(r[0], r[1], r[3]) for r in rows] == [
            (3, "received", "GDPR request 17"), (4, "delivered", "GDPR request 17"),
            (13, "redaction", None)]
        assert all(b"buyer 0" not in bytes(r[2]) for r in rows)
        act = json.loads(bytes(rows[2][2]))
        assert (act["message"], act["records"], act["reason"]) == (
            message, [3, 4], "GDPR request 17")
        found = await verify(config, "--json")
        assert found.json() == {"ok": True, "records": 13, "first_bad": None}
        shown = await cli(config, "message", "show", message, "--as-received")
        assert shown.status == 0
        assert "[redacted]" in shown.out
        assert "GDPR request 17" in shown.out
        assert "buyer 0" not in shown.out
        mbox = tmp_path / "dispute.mbox"
        exported = await cli(config, "archive", "export", "--buyer", "b1", "--seller", "s1",
                             "--output", str(mbox))
        assert exported.status == 0, exported
        assert b"[redacted]" in mbox.read_bytes()
        assert b"buyer 0" not in mbox.read_bytes()
        assert b"seller 2" in mbox.read_bytes()

    async def test_redacting_twice_or_an_unknown_message_is_refused(
        self, world: World, config: Path
    ) -> None:
        chain = await traffic(world)
        message = chain[0][1]
        assert (await cli(config, "archive", "redact", message, "--reason", "asked")).status == 0
        again = await cli(config, "archive", "redact", message, "--reason", "asked")
        assert again.status == 1
        assert again.out == ""
        assert again.err.startswith(f"relay: error: message {message} was redacted already")
        unknown = await cli(config, "archive", "redact", "nosuchmessage", "--reason", "x")
        assert (unknown.status, unknown.err) == (4, "relay: error: no message 'nosuchmessage'\n")
        blank = await cli(config, "archive", "redact", message, "--reason", " ")
        assert blank.status == 2
        assert len(blank.err.splitlines()) == 1
        assert (await verify(config, "--json")).json()["ok"] is True

    async def test_a_queued_message_is_not_redacted(self, world: World, config: Path) -> None:
        """Its delivery would send the tombstone: the operator drops it first."""
        await world.upstream.stop()
        async with Client(world.port) as c:
            assert (await c.send(SELLER, world.aliases.buyer_alias, compose(
                SELLER, world.aliases.buyer_alias))).code == 250
        [(message,)] = await sql(world, "SELECT id FROM messages")
        refused = await cli(config, "archive", "redact", message, "--reason", "asked")
        assert refused.status == 1
        assert "still queued" in refused.err

    async def test_a_record_emptied_without_a_redaction_record_is_named(
        self, world: World, config: Path
    ) -> None:
        """Marking a record redacted is not enough: a later redaction record must name it."""
        chain = await traffic(world)
        seq, message, _ = chain[5]
        await sql(world, "UPDATE archive SET data = :d, redacted_at = created_at, "
                  "redaction_reason = 'x' WHERE seq = :s", d=b"gone", s=seq)
        assert await broken(config, "no redaction record names it") == message


class TestCheckpoints:
    """What the database alone cannot show: a cut-off tail, a chain recomputed from scratch."""

    async def test_a_chain_cut_off_after_a_checkpoint_is_found_only_with_it(
        self, world: World, config: Path, tmp_path: Path
    ) -> None:
        chain = await traffic(world)
        await world.relay.checkpoints.write()
        points = tmp_path / "archive-checkpoints"
        assert (await verify(config, "--checkpoint", str(points))).status == 0
        # The intruder deletes the newest two records and winds the head back to match.
        [(seq, linked)] = await sql(world, "SELECT seq, chain_hash FROM archive WHERE seq = :s",
                                    s=chain[-3][0])
        await sql(world, "DELETE FROM archive WHERE seq > :s", s=seq)
        await sql(world, "UPDATE archive_head SET seq = :s, hash = :h", s=seq, h=linked)
        assert (await verify(config, "--json")).json()["ok"] is True  # the database agrees
        found = await verify(config, "--checkpoint", str(points))
        assert found.status == 1
        assert found.out.startswith("broken: the checkpoint of ")
        assert f"names record #{chain[-1][0]}, but the chain ends at #{seq}" in found.out
        assert "cut off" in found.out
        as_json = await verify(config, "--checkpoint", str(points), "--json")
        assert as_json.json() == {"ok": False, "records": seq, "first_bad": f"#{chain[-1][0]}"}

    async def test_a_chain_recomputed_after_a_checkpoint_is_found_only_with_it(
        self, world: World, config: Path, tmp_path: Path
    ) -> None:
        from relay.archive import chain as rules

        chain = await traffic(world)
        await world.relay.checkpoints.write()
        points = tmp_path / "archive-checkpoints"
        # The intruder changes record 3 and recomputes every hash after it, head included.
        rows = await sql(world, "SELECT seq, form, message_id, created_at, data, prev_hash "
                         "FROM archive ORDER BY seq")
        prev = None
        for seq, form, message, created, data, stored_prev in rows:
            prev = stored_prev if prev is None else prev
            content = rules.content_hash(b"forged" if seq == 3 else bytes(data))
            linked = rules.link(prev, seq, form, message, _aware(created), content)
            await sql(world, "UPDATE archive SET data = :d, content_hash = :c, prev_hash = :p, "
                      "chain_hash = :h WHERE seq = :s", d=b"forged" if seq == 3 else data,
                      c=content, p=prev, h=linked, s=seq)
            prev = linked
        await sql(world, "UPDATE archive_head SET hash = :h", h=prev)
        assert (await verify(config, "--json")).json()["ok"] is True  # the database agrees
        found = await verify(config, "--checkpoint", str(points))
        assert found.status == 1
        assert f"record #{chain[-1][0]} " in found.out
        assert "rewritten" in found.out

    async def test_a_forged_or_unsigned_checkpoint_is_refused(
        self, world: World, config: Path, tmp_path: Path
    ) -> None:
        await traffic(world, 1)
        await world.relay.checkpoints.write()
        points = tmp_path / "archive-checkpoints"
        line = json.loads(points.read_text().splitlines()[0])
        forged = tmp_path / "forged"
        forged.write_text(json.dumps({**line, "seq": line["seq"] + 5}) + "\n")
        found = await verify(config, "--checkpoint", str(forged))
        assert found.status == 1
        assert found.out == (f"broken: {forged} line 1: its signature does not match this "
                             "relay's checkpoint key\n")
        missing = await verify(config, "--checkpoint", str(tmp_path / "nothing"))
        assert missing.status == 2
        assert missing.err.startswith("relay: error: cannot read the checkpoint file")
        (tmp_path / "archive-checkpoint.key").unlink()
        keyless = await verify(config, "--checkpoint", str(points))
        assert keyless.status == 2
        assert keyless.err.startswith("relay: error: archive.checkpoint_key_file: cannot read")

    async def test_the_running_relay_writes_signed_checkpoints_at_start_each_interval_and_stop(
        self, make_world: WorldFactory, config: Path, tmp_path: Path
    ) -> None:
        from relay.archive import checkpoints

        world = await make_world()
        world.relay.checkpoints.interval = 0.2
        await traffic(world, 1)
        [(linked,)] = await sql(world, "SELECT chain_hash FROM archive WHERE seq = 4")
        await asyncio.sleep(0.5)
        await world.relay.stop(drain=1)
        key_file = tmp_path / "archive-checkpoint.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        written = checkpoints.read(tmp_path / "archive-checkpoints",
                                   checkpoints.load_key(key_file))
        assert len(written) >= 3  # at start, at least once per interval since, at stop
        assert written[0].seq == 0
        assert written[-1].seq == 4  # the stop's: both forms of both messages
        assert written[-1].hash == linked
        found = await verify(config, "--checkpoint", str(tmp_path / "archive-checkpoints"))
        assert found.status == 0, found


class TestConcurrentWriters:
    async def test_concurrent_clients_keep_one_contiguous_chain(
        self, make_world: WorldFactory, config: Path
    ) -> None:
        """Group commit puts many accepts in one transaction: seqs stay 1..n in commit order."""
        world = await make_world(server={"max_connections_per_client": 50})

        async def client(n: int) -> None:
            async with Client(world.port) as c:
                for i in range(6):
                    assert (await c.send(SELLER, world.aliases.buyer_alias, compose(
                        SELLER, world.aliases.buyer_alias, body=f"c{n}-{i}\n"))).code == 250

        await asyncio.gather(*(client(n) for n in range(25)))
        seqs = [r[0] for r in await sql(world, "SELECT seq FROM archive ORDER BY seq")]
        assert seqs == list(range(1, 301))
        # One time per group commit: fewer than the 150 messages, so batches were shared.
        [(commits,)] = await sql(world, "SELECT COUNT(DISTINCT created_at) FROM archive")
        assert commits < 150
        found = await verify(config, "--json")
        assert found.json() == {"ok": True, "records": 300, "first_bad": None}


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_two_relay_processes_on_one_store_keep_one_chain(
    spawn: Spawn, config: Path
) -> None:
    """Two processes accept at once on one PostgreSQL store: one chain, no seq twice or lost."""
    first, second = await spawn(), await spawn()
    alias = await seed(first)

    async def client(relay: RelayProcess, n: int) -> None:
        async with Client(relay.port) as c:
            for i in range(10):
                assert (await c.send(SELLER, alias, compose(
                    SELLER, alias, body=f"p{relay.port}-{n}-{i}\n"))).code == 250

    await asyncio.gather(*(client(relay, n) for relay in (first, second) for n in range(8)))
    found = await verify(config, "--json")
    assert found.json() == {"ok": True, "records": 320, "first_bad": None}
    seqs = json.loads(await first.cli("archive", "verify"))
    assert seqs["records"] == 320


def _aware(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _later(value: Any) -> Any:
    from datetime import timedelta

    return _aware(value) + timedelta(seconds=1)
