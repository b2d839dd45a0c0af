"""The case operations on both stores: opening, the allowed moves, the list and its counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from relay.errors import Conflict, Invalid, NotFound
from relay.model import Accepted, CaseRecord
from relay.operations import Context, connect, directory
from relay.operations import cases as ops
from tests.conftest import SettingsFactory


async def _pairs(ctx: Context) -> None:
    await directory.add_seller(ctx, "s1", name="Acme Shop", email="owner@acme.example")
    await directory.add_seller(ctx, "s2", name="Rival", email="boss@rival.example")
    await directory.add_buyer(ctx, "b1", email="bob@buyer.example")
    await directory.add_buyer(ctx, "b2", email="ann@buyer.example")
    await directory.add_order(ctx, "o1", buyer="b1", seller="s1")
    await directory.add_order(ctx, "o2", buyer="b2", seller="s1")


async def _message(ctx: Context, message_id: str, case: CaseRecord | None) -> None:
    """An accepted seller message of b1-s1, in `case` if given, as the 250 boundary writes it."""
    route = await ctx.store.directory.route(
        (await ctx.store.directory.aliases("b1", "s1")).buyer_alias)
    assert route is not None
    await ctx.store.messages.accept(Accepted(
        message_id=message_id, route=route, envelope_sender="owner@acme.example",
        subject="Hi", original_message_id=None,
        relay_message_id=f"<{message_id}@relay.example>", parent_id=None,
        received=b"x", delivered=b"x", envelope_from="bounce@relay.example",
        case_id=None if case is None else int(case.id),
    ))


class TestOpen:
    async def test_a_new_case_is_open_with_both_times_equal(self, ctx: Context) -> None:
        await _pairs(ctx)
        before = datetime.now(UTC)
        case = await ops.open_case(ctx, buyer="b1", seller="s1", order="o1",
                                   subject="  Parcel   never came ")
        assert (case.state, case.buyer, case.seller, case.order, case.subject,
                case.messages) == ("open", "b1", "s1", "o1", "Parcel never came", 0)
        assert case.id.isdigit()
        assert case.last_activity == case.opened_at
        assert before <= case.opened_at <= datetime.now(UTC)

    async def test_a_second_case_while_one_is_not_closed_is_a_conflict(
        self, ctx: Context
    ) -> None:
        await _pairs(ctx)
        case = await ops.open_case(ctx, buyer="b1", seller="s1")
        with pytest.raises(Conflict, match=f"already have case {case.id} \\(open\\)"):
            await ops.open_case(ctx, buyer="b1", seller="s1", order="o1")
        await ops.resolve_case(ctx, case.id)
        with pytest.raises(Conflict, match=r"\(resolved\)"):
            await ops.open_case(ctx, buyer="b1", seller="s1")
        await ops.close_case(ctx, case.id)
        again = await ops.open_case(ctx, buyer="b1", seller="s1")
        assert again.id != case.id

    async def test_other_pairs_have_their_own_case(self, ctx: Context) -> None:
        await _pairs(ctx)
        await ops.open_case(ctx, buyer="b1", seller="s1")
        assert (await ops.open_case(ctx, buyer="b2", seller="s1")).state == "open"
        assert (await ops.open_case(ctx, buyer="b1", seller="s2")).state == "open"

    async def test_a_pair_without_aliases_yet_gets_them(self, ctx: Context) -> None:
        """As `alias show` does: a case needs the relationship, which is made on first use."""
        await _pairs(ctx)
        case = await ops.open_case(ctx, buyer="b2", seller="s2")
        assert (case.buyer, case.seller) == ("b2", "s2")

    @pytest.mark.parametrize(("buyer", "seller", "order", "missing"), [
        ("b9", "s1", None, "no buyer 'b9'"),
        ("b1", "s9", None, "no seller 's9'"),
        ("b1", "s1", "o9", "no order 'o9'"),
    ])
    async def test_unknown_parties_and_orders_are_not_found(
        self, ctx: Context, buyer: str, seller: str, order: str | None, missing: str
    ) -> None:
        await _pairs(ctx)
        with pytest.raises(NotFound, match=missing):
            await ops.open_case(ctx, buyer=buyer, seller=seller, order=order)

    async def test_an_order_of_another_pair_is_invalid(self, ctx: Context) -> None:
        await _pairs(ctx)
        with pytest.raises(Invalid, match="order o2 is not between buyer b1 and seller s1"):
            await ops.open_case(ctx, buyer="b1", seller="s1", order="o2")
        assert await ops.list_cases(ctx) == []

    async def test_two_concurrent_opens_one_wins(
        self, store_url: str, make_settings: SettingsFactory
    ) -> None:
        """Two processes' openings race past the check: the index lets one through."""
        settings = make_settings(store={"url": store_url})
        async with connect(settings) as setup:
            await _pairs(setup)
            await directory.show_aliases(setup, buyer="b1", seller="s1")
        async with connect(settings) as one, connect(settings) as two:
            results = await asyncio.gather(
                *(ops.open_case(c, buyer="b1", seller="s1") for c in (one, two, one, two)),
                return_exceptions=True,
            )
            opened = [r for r in results if isinstance(r, CaseRecord)]
            refused = [r for r in results if not isinstance(r, CaseRecord)]
            assert len(opened) == 1, results
            for error in refused:
                assert isinstance(error, Conflict), error
                assert f"already have case {opened[0].id}" in str(error)
            assert [c.id for c in await ops.list_cases(one)] == [opened[0].id]


class TestMoves:
    async def test_the_allowed_moves(self, ctx: Context) -> None:
        """open -> resolved -> open -> resolved -> closed; each stamps updated_at."""
        await _pairs(ctx)
        case = await ops.open_case(ctx, buyer="b1", seller="s1")
        resolved = await ops.resolve_case(ctx, case.id)
        assert resolved.state == "resolved"
        assert resolved.last_activity > case.last_activity
        assert (await ops.reopen_case(ctx, case.id)).state == "open"
        assert (await ops.resolve_case(ctx, case.id)).state == "resolved"
        closed = await ops.close_case(ctx, case.id)
        assert (closed.state, closed.opened_at) == ("closed", case.opened_at)

    async def test_any_other_move_is_a_conflict(self, ctx: Context) -> None:
        await _pairs(ctx)
        case = await ops.open_case(ctx, buyer="b1", seller="s1")
        with pytest.raises(Conflict, match="is open; resolve it before closing it"):
            await ops.close_case(ctx, case.id)
        with pytest.raises(Conflict, match="is already open"):
            await ops.reopen_case(ctx, case.id)
        await ops.resolve_case(ctx, case.id)
        with pytest.raises(Conflict, match="is already resolved"):
            await ops.resolve_case(ctx, case.id)
        await ops.close_case(ctx, case.id)
        for move in (ops.resolve_case, ops.reopen_case, ops.close_case):
            with pytest.raises(Conflict, match=r"closed case stays closed|already closed"):
                await move(ctx, case.id)
        (listed,) = await ops.list_cases(ctx)
        assert listed.state == "closed"

    @pytest.mark.parametrize("case", ["999", "abc", "-1", "1e3", "", "\u0661"])
    async def test_an_unknown_case_is_not_found(self, ctx: Context, case: str) -> None:
        with pytest.raises(NotFound, match="no case"):
            await ops.resolve_case(ctx, case)


class TestList:
    async def test_filters_and_order(self, ctx: Context) -> None:
        await _pairs(ctx)
        first = await ops.open_case(ctx, buyer="b1", seller="s1")
        await ops.resolve_case(ctx, first.id)
        second = await ops.open_case(ctx, buyer="b2", seller="s1")
        third = await ops.open_case(ctx, buyer="b1", seller="s2")

        async def ids(**filters: str) -> list[str]:
            return [c.id for c in await ops.list_cases(ctx, **filters)]

        assert await ids() == [third.id, second.id, first.id]
        assert await ids(buyer="b1") == [third.id, first.id]
        assert await ids(seller="s1") == [second.id, first.id]
        assert await ids(buyer="b1", seller="s1") == [first.id]
        assert await ids(state="open") == [third.id, second.id]
        assert await ids(state="resolved", seller="s1") == [first.id]
        assert await ids(state="closed") == []
        assert await ids(buyer="b2", seller="s2") == []

    async def test_unknown_filters(self, ctx: Context) -> None:
        await _pairs(ctx)
        with pytest.raises(NotFound, match="no buyer 'b9'"):
            await ops.list_cases(ctx, buyer="b9")
        with pytest.raises(NotFound, match="no seller 's9'"):
            await ops.list_cases(ctx, seller="s9")
        with pytest.raises(Invalid, match="'Open' is not a case state"):
            await ops.list_cases(ctx, state="Open")

    async def test_message_count_and_last_activity(self, ctx: Context) -> None:
        """Counted by the store from the messages' case, the last one's time is the activity."""
        await _pairs(ctx)
        await _message(ctx, "a" * 32, None)
        case = await ops.open_case(ctx, buyer="b1", seller="s1")
        await _message(ctx, "b" * 32, case)
        await _message(ctx, "c" * 32, case)
        (listed,) = await ops.list_cases(ctx)
        assert listed.messages == 2
        assert listed.last_activity > case.opened_at
        assert listed.last_activity.tzinfo is not None
        assert listed.last_activity - case.opened_at < timedelta(minutes=1)
        resolved = await ops.resolve_case(ctx, case.id)
        assert resolved.messages == 2
        assert resolved.last_activity >= listed.last_activity

    async def test_a_closed_case_takes_no_message_at_the_commit(self, ctx: Context) -> None:
        """The race: a case closed after the step chose it gets no more messages."""
        await _pairs(ctx)
        case = await ops.open_case(ctx, buyer="b1", seller="s1")
        await ops.resolve_case(ctx, case.id)
        await _message(ctx, "b" * 32, case)
        await ops.close_case(ctx, case.id)
        await _message(ctx, "c" * 32, case)
        (listed,) = await ops.list_cases(ctx)
        assert listed.messages == 1
