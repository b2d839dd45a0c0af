"""The message log and response times on both stores, with controlled timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, update

from relay.errors import Invalid, NotFound
from relay.model import Accepted
from relay.operations import Context, directory, stats
from relay.operations import messages as ops
from relay.store import tables as t

T0 = datetime(2026, 11, 1, 12, 0, 0, 250000, tzinfo=UTC)


async def _pairs(ctx: Context) -> None:
    await directory.add_seller(ctx, "s1", name="Acme Shop", email="owner@acme.example")
    await directory.add_seller(ctx, "s2", name="Rival", email="boss@rival.example")
    await directory.add_buyer(ctx, "b1", email="bob@buyer.example")
    await directory.add_buyer(ctx, "b2", email="ann@buyer.example")


async def _send(ctx: Context, message_id: str, at: datetime, *, buyer: str = "b1",
                seller: str = "s1", from_buyer: bool = True, parent: str | None = None,
                deliver: bool = True) -> None:
    """A message accepted as the 250 boundary writes it, then dated `at`."""
    aliases = await ctx.store.directory.aliases(buyer, seller)
    route = await ctx.store.directory.route(
        aliases.seller_alias if from_buyer else aliases.buyer_alias)
    assert route is not None
    await ctx.store.messages.accept(Accepted(
        message_id=message_id, route=route, envelope_sender="someone@example.org",
        subject=f"about {message_id}", original_message_id=None,
        relay_message_id=f"<{message_id}@relay.example>", parent_id=parent,
        received=b"x", delivered=b"x", envelope_from="bounce@relay.example",
        deliver=deliver,
    ))

    def date(connection: Connection) -> None:
        connection.execute(update(t.MESSAGES).where(t.MESSAGES.c.id == message_id)
                           .values(received_at=at))

    await ctx.store.database.run_connection(date)


async def _ids(ctx: Context, **kwargs: object) -> list[str]:
    return [m.id for m in await ops.list_messages(ctx, **kwargs)]  # type: ignore[arg-type]


class TestList:
    async def test_default_is_buyer_messages_awaiting_a_response_newest_first(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "q1", T0)
        await _send(ctx, "q2", T0 + timedelta(hours=1))
        await _send(ctx, "other", T0 + timedelta(hours=2), buyer="b2", seller="s2")
        await _send(ctx, "auto", T0 + timedelta(hours=3), deliver=False)  # consumed
        await _send(ctx, "s-first", T0 + timedelta(hours=4), from_buyer=False)
        assert await _ids(ctx) == ["other", "q2", "q1"]
        assert await _ids(ctx, seller="s1") == ["q2", "q1"]
        assert await _ids(ctx, buyer="b2") == ["other"]
        assert await _ids(ctx, everything=True) == ["s-first", "auto", "other", "q2", "q1"]
        (first,) = await ops.list_messages(ctx, seller="s2")
        assert (first.direction, first.buyer, first.seller, first.status, first.subject,
                first.received_at, first.response_needed, first.order, first.case) == (
            "buyer-to-seller", "b2", "s2", "queued", "about other", T0 + timedelta(hours=2),
            True, None, None)

    async def test_keyset_pages_follow_each_other(self, ctx: Context) -> None:
        await _pairs(ctx)
        for i in range(5):
            await _send(ctx, f"m{i}", T0 + timedelta(minutes=i // 2))  # pairs share a time
        pages, before = [], None
        while page := await _ids(ctx, limit=2, before=before):
            pages.append(page)
            before = page[-1]
        flat = [i for page in pages for i in page]
        assert flat == ["m4", "m3", "m2", "m1", "m0"]
        assert [len(p) for p in pages] == [2, 2, 1]

    async def test_unknown_names_are_not_found_and_a_bad_limit_invalid(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        for kwargs, what in (({"buyer": "nobody"}, "buyer"), ({"seller": "nobody"}, "seller"),
                             ({"case": "77"}, "case"), ({"case": "x"}, "case"),
                             ({"before": "nope"}, "message")):
            with pytest.raises(NotFound, match=f"no {what}"):
                await ops.list_messages(ctx, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(Invalid):
            await ops.list_messages(ctx, limit=0)


class TestResponseNeeded:
    async def test_one_seller_reply_answers_every_earlier_buyer_message_of_its_thread(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "a1", T0)
        await _send(ctx, "a2", T0 + timedelta(minutes=1), parent="a1")
        await _send(ctx, "b1", T0 + timedelta(minutes=2))  # another thread of the pair
        await _send(ctx, "reply", T0 + timedelta(minutes=3), from_buyer=False, parent="a2")
        await _send(ctx, "a3", T0 + timedelta(minutes=4), parent="reply")  # after the reply
        assert await _ids(ctx) == ["a3", "b1"]
        listed = {m.id: m.response_needed for m in await ops.list_messages(ctx, everything=True)}
        assert listed == {"a1": False, "a2": False, "b1": True, "reply": False, "a3": True}

    async def test_marking_ends_the_wait_and_a_seller_message_cannot_be_marked(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        await _send(ctx, "q", T0)
        await _send(ctx, "s", T0, from_buyer=False)
        marked = await ops.mark_no_response_needed(ctx, "q")
        assert (marked.id, marked.response_needed) == ("q", False)
        assert await _ids(ctx) == []
        with pytest.raises(Invalid, match="seller"):
            await ops.mark_no_response_needed(ctx, "s")
        with pytest.raises(NotFound, match="no message"):
            await ops.mark_no_response_needed(ctx, "nope")


class TestResponseTime:
    async def test_the_24_hour_boundary_is_within(self, ctx: Context) -> None:
        await _pairs(ctx)
        day = timedelta(hours=24)
        now = T0 + timedelta(days=5)
        await _send(ctx, "exact", T0)
        await _send(ctx, "r-exact", T0 + day, from_buyer=False, parent="exact")
        await _send(ctx, "late", T0 + timedelta(hours=1))
        await _send(ctx, "r-late", T0 + timedelta(hours=1) + day + timedelta(microseconds=1),
                    from_buyer=False, parent="late")
        await _send(ctx, "never", T0 + timedelta(hours=2))
        await _send(ctx, "old-enough", now - day)  # exactly 24 h old, unanswered
        await _send(ctx, "young", now - day + timedelta(microseconds=1))
        await _send(ctx, "fast-young", now - timedelta(hours=1))
        await _send(ctx, "r-fast", now - timedelta(minutes=1), from_buyer=False,
                    parent="fast-young")
        await _send(ctx, "marked", T0)
        await ops.mark_no_response_needed(ctx, "marked")
        await _send(ctx, "elsewhere", T0, buyer="b2", seller="s2")
        await _send(ctx, "too-old", now - timedelta(days=30, microseconds=1))
        got = await stats.response_time(ctx, seller="s1", days=30, now=now)
        assert (got.seller, got.days, got.messages, got.answered_within_24h, got.pending) == (
            "s1", 30, 5, 2, 1)
        assert got.rate == pytest.approx(2 / 5)

    async def test_no_messages_is_a_null_rate_and_unknown_seller_not_found(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        got = await stats.response_time(ctx, seller="s2", now=T0)
        assert (got.days, got.messages, got.rate) == (30, 0, None)
        with pytest.raises(NotFound):
            await stats.response_time(ctx, seller="nobody")
        with pytest.raises(Invalid):
            await stats.response_time(ctx, seller="s1", days=0)
