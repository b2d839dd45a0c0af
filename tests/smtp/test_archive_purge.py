"""`relay archive purge` after real SMTP traffic: old mail goes, a case's not yet closed stays,
and `relay archive verify` still holds, and still finds a kept record removed afterwards."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, update

from relay.archive import chain
from relay.errors import Conflict
from relay.operations import Context
from relay.operations import archive as ops
from relay.operations.reports import report_message
from relay.store import tables as t
from tests.smtp.conftest import BUYER, SELLER, Client, World, compose
from tests.smtp.test_archive import broken, config, sql, verify

__all__ = ["config"]  # the fixture, shared with the verify tests

AGE = timedelta(days=800)  # past archive.retention_days (730)


async def relay(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def purge(config: Path, *args: str) -> dict[str, Any]:
    status, out, err = await relay(config, "archive", "purge", "--json", *args)
    assert (status, err) == (0, ""), (status, out, err)
    document: dict[str, Any] = json.loads(out)
    return document


async def write(world: World, name: str, *, from_seller: bool = False) -> str:
    """One message over SMTP; its id in the store."""
    sender, alias = ((SELLER, world.aliases.buyer_alias) if from_seller
                     else (BUYER, world.aliases.seller_alias))
    message_id = f"<{name}@client.example>"
    async with Client(world.port) as client:
        answer = await client.send(sender, alias, compose(sender, alias, subject=name,
                                                          message_id=message_id))
    assert answer.code == 250, answer
    [(found,)] = await sql(world, "SELECT id FROM messages WHERE original_message_id = :m",
                           m=message_id)
    return str(found)


async def age(world: World, messages: list[str]) -> None:
    """Make these messages (and their cases) 800 days old, as the archive would hold them:
    their records' times move back and the chain is linked anew over them, as if written then."""
    def run(connection: Connection) -> None:
        a, m, c = t.ARCHIVE.c, t.MESSAGES.c, t.CASES.c
        for message_id, received in connection.execute(
                select(m.id, m.received_at).where(m.id.in_(messages))).all():
            connection.execute(update(t.MESSAGES).where(m.id == message_id)
                               .values(received_at=received - AGE))
        for case_id, opened, updated in connection.execute(
                select(c.id, c.opened_at, c.updated_at).where(c.id.in_(
                    select(m.case_id).where(m.id.in_(messages))))).all():
            connection.execute(update(t.CASES).where(c.id == case_id).values(
                opened_at=opened - AGE, updated_at=updated - AGE))
        base = connection.execute(select(t.ARCHIVE_HEAD.c.base_hash)).scalar_one()
        prev = base
        rows = connection.execute(select(a.id, a.seq, a.form, a.message_id, a.created_at,
                                         a.content_hash).order_by(a.seq)).all()
        for row_id, seq, form, message_id, created, content in rows:
            if message_id in messages:
                created = created - AGE
            linked = chain.link(prev, seq, form, message_id, created, content)
            connection.execute(update(t.ARCHIVE).where(a.id == row_id).values(
                created_at=created, prev_hash=prev, chain_hash=linked))
            prev = linked
        connection.execute(update(t.ARCHIVE_HEAD).values(hash=prev))

    await world.relay.store.database.run_connection(run)


async def present(world: World) -> tuple[set[str], set[str], list[str]]:
    """The message ids with records, the message rows, and the forms of records of no message."""
    records = await sql(world, "SELECT message_id, form FROM archive ORDER BY seq")
    rows = await sql(world, "SELECT id FROM messages")
    return ({m for m, _ in records if m is not None}, {r for (r,) in rows},
            [f for m, f in records if m is None])


async def dispute(world: World) -> dict[str, str]:
    """Old mail of no case and of a closed case, old mail of an open case, and a new message."""
    cases = world.relay.store.cases
    ids = {"old": await write(world, "old"),
           "old-reply": await write(world, "old-reply", from_seller=True)}
    closed = (await cases.open("b1", "s1", "o1", "Settled")).id
    ids["closed"] = await write(world, "closed")
    await cases.move(int(closed), "resolved")
    await cases.move(int(closed), "closed")
    ids["case"] = (await cases.open("b1", "s1", "o1", "Parcel")).id
    ids["open"] = await write(world, "open")
    ids["open-reply"] = await write(world, "open-reply", from_seller=True)
    await age(world, [ids[k] for k in ("old", "old-reply", "closed", "open", "open-reply")])
    ids["new"] = await write(world, "new")  # joins the open case too, but is young
    return ids


class TestPurge:
    async def test_old_mail_goes_an_open_case_keeps_its_own_and_the_chain_verifies(
        self, world: World, config: Path
    ) -> None:
        ids = await dispute(world)
        assert (await verify(config, "--json")).json()["ok"] is True
        dry = await purge(config, "--dry-run")
        assert dry == {"purged": 6, "kept": 4, "messages": None, "checkpoint": None,
                       "dry_run": True}
        assert len((await present(world))[0]) == 6  # nothing removed
        done = await purge(config)
        # old, old-reply and closed, each received and delivered; open and open-reply kept
        assert (done["purged"], done["kept"], done["messages"]) == (6, 4, 3)
        with_records, rows, of_none = await present(world)
        assert with_records == {ids["open"], ids["open-reply"], ids["new"]}
        assert rows == with_records
        assert of_none == ["checkpoint"]
        found = (await verify(config, "--json")).json()
        assert found == {"ok": True, "records": 7, "first_bad": None}

        again = await purge(config)  # nothing more is due: no second checkpoint
        assert (again["purged"], again["kept"], again["messages"], again["checkpoint"]) == (
            0, 4, 0, None)
        assert (await verify(config, "--json")).json()["ok"] is True

        status, out, _ = await relay(config, "archive", "export", "--buyer", "b1",
                                     "--seller", "s1", "--case", ids["case"], "--json",
                                     "--output", str(config.parent / "case.mbox"))
        assert (status, json.loads(out)["messages"]) == (0, 3)

        # The case closes: the next purge takes its old records too; the chain still holds.
        await world.relay.store.cases.move(int(ids["case"]), "resolved")
        await world.relay.store.cases.move(int(ids["case"]), "closed")
        # A case closed within ops.CLOSE_MARGIN of a purge keeps its records through it.
        assert (await purge(config))["purged"] == 0
        ctx = Context(world.relay.store, world.relay.settings)
        later = datetime.now(UTC) + ops.CLOSE_MARGIN + timedelta(minutes=1)
        last = await ops.purge_archive(ctx, now=later)
        assert (last.purged, last.kept) == (4, 0)
        with_records, rows, of_none = await present(world)
        assert with_records == {ids["new"]}
        assert of_none == ["checkpoint", "checkpoint"]
        assert (await verify(config, "--json")).json() == {
            "ok": True, "records": 4, "first_bad": None}

    async def test_a_kept_record_removed_or_changed_after_a_purge_is_found(
        self, world: World, config: Path
    ) -> None:
        ids = await dispute(world)
        checkpoint = (await purge(config))["checkpoint"]
        [(seq, data)] = await sql(
            world, "SELECT seq, data FROM archive WHERE message_id = :m AND form = 'received'",
            m=ids["open"])
        await sql(world, "UPDATE archive SET data = :d WHERE seq = :s",
                  d=bytes(data).replace(b"Hello", b"Jello"), s=seq)
        assert await broken(config, "changed") == ids["open"]
        await sql(world, "DELETE FROM archive WHERE seq = :s", s=seq)
        assert await broken(config, "removed") == f"#{checkpoint}"

    async def test_a_purge_refuses_a_broken_chain(self, world: World, config: Path) -> None:
        ids = await dispute(world)
        await sql(world, "DELETE FROM archive WHERE message_id = :m AND form = 'delivered'",
                  m=ids["new"])
        status, out, err = await relay(config, "archive", "purge")
        assert (status, out) == (1, "")
        assert err.startswith("relay: error: the archive does not verify (")
        assert err.count("\n") == 1
        assert len((await present(world))[0]) == 6

    async def test_a_purge_stopped_half_way_still_verifies_and_the_next_finishes_it(
        self, world: World, config: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        await dispute(world)
        ctx = Context(world.relay.store, world.relay.settings)
        removals = world.relay.store.archive.purge_records
        calls = 0

        async def crash_after_one(*args: Any) -> int:
            nonlocal calls
            calls += 1
            if calls > 1:
                raise Conflict("the machine went down")
            return await removals(*args)

        monkeypatch.setattr(ops, "PURGE_BATCH", 2)
        monkeypatch.setattr(world.relay.store.archive, "purge_records", crash_after_one)
        with pytest.raises(Conflict):
            await ops.purge_archive(ctx)
        monkeypatch.undo()
        assert len((await present(world))[0]) == 5  # the first message's two records went
        assert (await verify(config, "--json")).json()["ok"] is True
        done = await purge(config)
        assert (done["purged"], done["kept"], done["messages"]) == (4, 4, 3)
        assert (await verify(config, "--json")).json()["ok"] is True

    async def test_moving_the_start_or_removing_the_checkpoint_is_found(
        self, world: World, config: Path
    ) -> None:
        await dispute(world)
        checkpoint = (await purge(config))["checkpoint"]
        [(base, base_hash)] = await sql(world, "SELECT base_seq, base_hash FROM archive_head")
        await sql(world, "UPDATE archive_head SET base_seq = :b", b=base + 1)
        assert await broken(config, "changed") == f"#{checkpoint}"
        await sql(world, "UPDATE archive_head SET base_seq = :b", b=base)
        assert (await verify(config, "--json")).json()["ok"] is True
        await sql(world, "DELETE FROM archive WHERE seq = :s", s=checkpoint)
        assert await broken(config, "removed") == f"#{base}"
        assert base_hash

    async def test_a_report_goes_with_its_message_and_a_kept_one_loses_an_old_notice(
        self, world: World, config: Path
    ) -> None:
        ids = await dispute(world)
        ctx = Context(world.relay.store, world.relay.settings)
        await report_message(ctx, ids["old"], "Rude words")
        await report_message(ctx, ids["open"], "A threat")
        notices = [n for (n,) in await sql(world, "SELECT notice_id FROM reports")]
        await age(world, [*notices, ids["new"]])  # all old now: purged through the notices
        done = await purge(config)
        assert done["kept"] == 6  # open, open-reply and new, of the open case
        assert await sql(world, "SELECT message_id, notice_id FROM reports") == [
            (ids["open"], None)]
        assert await sql(world, "SELECT id FROM messages WHERE id IN (:a, :b)",
                         a=notices[0], b=notices[1]) == []
        assert (await verify(config, "--json")).json()["ok"] is True
