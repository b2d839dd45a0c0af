"""Reports on both stores: kept with who, when and why; the admin's notice queued with them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, select

from relay.errors import Invalid, NotFound
from relay.model import Refusal, RefusalReply
from relay.operations import Context
from relay.operations import messages as ops
from relay.operations.archive import verify_archive
from relay.operations.reports import report_message
from relay.store import tables as t
from tests.unit.operations.test_messages import T0, _pairs, _send


async def _rows(ctx: Context, table: str) -> list[dict[str, object]]:
    def read(connection: Connection) -> list[dict[str, object]]:
        found = connection.execute(select(t.Base.metadata.tables[table]))
        return [dict(row._mapping) for row in found]

    return await ctx.store.database.run_connection(read)


class TestReport:
    async def test_each_report_is_kept_and_queues_a_notice_for_the_admin(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "q1", T0)
        first = await report_message(ctx, "q1", "  spam\r\nand more  ")
        second = await report_message(ctx, "q1", "again", reporter="support-key")
        assert (first.message, first.reporter, first.reason) == ("q1", "cli", "spam\nand more")
        assert second.reporter == "support-key"
        assert first.id != second.id
        assert first.notice is not None
        assert second.notice is not None
        reports = {r["id"]: r for r in await _rows(ctx, "reports")}
        assert reports[first.id]["notice_id"] == first.notice
        assert reports[first.id]["reported_at"] == first.reported_at
        queued = {item.message_id: item for item in await ctx.store.queue.items()}
        assert queued[first.notice].recipient == "ops@marketplace.example"
        notices = {m["id"]: m for m in await _rows(ctx, "messages")
                   if m["direction"] == "notice"}
        assert set(notices) == {first.notice, second.notice}
        notice = notices[first.notice]
        # Not part of the relationship: it carries both parties' real addresses.
        assert (notice["relationship_id"], notice["parent_id"], notice["envelope_sender"],
                notice["subject"]) == (None, "q1", "", "Reported message q1")
        forms = await ctx.store.messages.archived(first.notice)
        assert b"Reported message q1" in forms["delivered"]
        check = await verify_archive(ctx)  # the notices joined the archive's chain
        assert (check.ok, check.records) == (True, 4)

    async def test_unknown_message_and_bad_reasons_record_nothing(self, ctx: Context) -> None:
        await _pairs(ctx)
        await _send(ctx, "q1", T0)
        with pytest.raises(NotFound, match="no message 'nope'"):
            await report_message(ctx, "nope", "spam")
        for reason in ("", "  \n ", "a\x1bb", "x" * 2001):
            with pytest.raises(Invalid):
                await report_message(ctx, "q1", reason)
        assert await _rows(ctx, "reports") == []
        assert await ctx.store.queue.items() != []  # q1's own delivery, nothing else
        assert {item.message_id for item in await ctx.store.queue.items()} == {"q1"}

    async def test_a_refused_message_has_nothing_to_report(self, ctx: Context) -> None:
        await _pairs(ctx)
        aliases = await ctx.store.directory.aliases("b1", "s1")
        route = await ctx.store.directory.route(aliases.seller_alias)
        assert route is not None
        await ctx.store.messages.refused(Refusal(
            message_id="r1", route=route, envelope_sender="bob@buyer.example",
            reply=RefusalReply(550, "5.7.1", "no"), rule="opted-out"))
        with pytest.raises(Invalid, match="message r1 was refused"):
            await report_message(ctx, "r1", "spam")
        assert await _rows(ctx, "reports") == []


class TestReportedList:
    async def test_only_reported_answered_or_not_with_the_other_filters_and_paging(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "q1", T0)
        await _send(ctx, "q2", T0 + timedelta(minutes=1))
        await _send(ctx, "a1", T0 + timedelta(minutes=2), from_buyer=False, parent="q1")
        await _send(ctx, "o1", T0 + timedelta(minutes=3), buyer="b2", seller="s2")
        await _send(ctx, "o2", T0 + timedelta(minutes=3), buyer="b2", seller="s2")
        for message in ("q1", "a1", "o1", "o2", "o2"):
            await report_message(ctx, message, "abuse")

        async def ids(**kwargs: object) -> list[str]:
            found = await ops.list_messages(ctx, reported=True, **kwargs)  # type: ignore[arg-type]
            return [m.id for m in found]

        assert await ids() == ["o2", "o1", "a1", "q1"]  # q1 answered, a1 the seller's
        assert await ids(everything=True) == ["o2", "o1", "a1", "q1"]
        assert await ids(seller="s1") == ["a1", "q1"]
        assert await ids(buyer="b2") == ["o2", "o1"]
        pages, before = [], None
        while page := await ids(limit=1, before=before):
            pages.append(page)
            before = page[-1]
        assert pages == [["o2"], ["o1"], ["a1"], ["q1"]]
        assert [m.id for m in await ops.list_messages(ctx)] == ["o2", "o1", "q2"]
