"""The cases step, called directly on both stores: which case a message joins, and refusals."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay import replies
from relay.errors import Conflict
from relay.message import Transaction
from relay.model import Accepted, CaseState, Route
from relay.policy.cases import Cases
from relay.replies import Refused
from relay.store import Store


@pytest.fixture
async def route(store: Store) -> Route:
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    await store.directory.put_buyer("b1", "bob@buyer.example")
    await store.directory.put_buyer("b2", "ann@buyer.example")
    aliases = await store.directory.aliases("b1", "s1")
    found = await store.directory.route(aliases.buyer_alias)
    assert found is not None
    return found


async def _accepted(store: Store, route: Route, message_id: str, case_id: int | None) -> str:
    await store.messages.accept(Accepted(
        message_id=message_id, route=route, envelope_sender="owner@acme.example",
        subject=None, original_message_id=None,
        relay_message_id=f"<{message_id}@relay.example>", parent_id=None, received=b"x",
        delivered=b"x", envelope_from="b@relay.example", case_id=case_id))
    return message_id


async def _step(store: Store, route: Route, parent: str | None = None) -> Transaction:
    tx = Transaction(id="t", peer="p", mail_from="owner@acme.example", route=route,
                     parent_id=parent)
    await Cases(store.cases)(tx)
    return tx


class TestCases:
    async def test_no_case_no_case_id(self, store: Store, route: Route) -> None:
        assert (await _step(store, route)).case_id is None

    async def test_a_new_message_joins_the_case_not_closed(self, store: Store,
                                                           route: Route) -> None:
        case = int((await store.cases.open("b1", "s1")).id)
        assert (await _step(store, route)).case_id == case
        await store.cases.move(case, "resolved")
        assert (await _step(store, route)).case_id == case

    async def test_another_pairs_case_is_not_joined(self, store: Store, route: Route) -> None:
        await store.cases.open("b2", "s1")
        assert (await _step(store, route)).case_id is None

    async def test_a_reply_joins_its_parents_case(self, store: Store, route: Route) -> None:
        case = int((await store.cases.open("b1", "s1")).id)
        parent = await _accepted(store, route, "a" * 32, case)
        assert (await _step(store, route, parent)).case_id == case

    async def test_a_reply_to_mail_of_no_case_joins_the_current_one(
        self, store: Store, route: Route
    ) -> None:
        parent = await _accepted(store, route, "a" * 32, None)
        case = int((await store.cases.open("b1", "s1")).id)
        assert (await _step(store, route, parent)).case_id == case

    async def test_a_reply_in_a_closed_case_is_refused(self, store: Store, route: Route) -> None:
        case = int((await store.cases.open("b1", "s1")).id)
        parent = await _accepted(store, route, "a" * 32, case)
        await store.cases.move(case, "resolved")
        await store.cases.move(case, "closed")
        await store.cases.open("b1", "s1")
        with pytest.raises(Refused) as refused:
            await _step(store, route, parent)
        assert refused.value.reply == replies.S550_CASE_CLOSED
        assert (await _step(store, route)).case_id not in (None, case)

    async def test_role_routes_are_left_alone(self, store: Store, route: Route) -> None:
        tx = Transaction(id="t", peer="p", mail_from="x@y.example", route=None)
        await Cases(store.cases)(tx)
        assert tx.case_id is None


# SPEC §6, written out: the moves allowed from each state.
ALLOWED = {"open": {"resolved"}, "resolved": {"closed", "open"}, "closed": set()}
MOVE_TO: dict[str, CaseState] = {"resolved": "resolved", "reopen": "open", "closed": "closed"}
Op = tuple[str, int]
OPS = st.one_of(
    st.tuples(st.just("open"), st.just(0)),
    st.tuples(st.sampled_from(["resolved", "reopen", "closed"]), st.integers(0, 3)),
    st.tuples(st.just("new"), st.just(0)),
    st.tuples(st.just("reply"), st.integers(0, 30)),
)
_pairs = itertools.count()


class TestRules:
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops=st.lists(OPS, max_size=14))
    async def test_any_history_of_cases_and_messages(self, store: Store, ops: list[Op]) -> None:
        """Whatever the order of openings, moves, messages and replies: one case not closed
        at most, only SPEC's moves, replies in closed threads refused, the rest placed so."""
        buyer = f"p{next(_pairs)}"
        await store.directory.put_seller("s1", "Acme", "owner@acme.example")
        await store.directory.put_buyer(buyer, f"{buyer}@buyer.example")
        route = await store.directory.route((await store.directory.aliases(buyer, "s1"))
                                            .buyer_alias)
        assert route is not None
        states: dict[int, str] = {}  # the model: each case's state, in opening order
        joined: dict[str, int | None] = {}  # each accepted message's case

        def current() -> int | None:
            return next((c for c, s in states.items() if s != "closed"), None)

        for verb, n in ops:
            if verb == "open":
                if current() is None:
                    states[int((await store.cases.open(buyer, "s1")).id)] = "open"
                else:
                    with pytest.raises(Conflict):
                        await store.cases.open(buyer, "s1")
            elif verb in ("resolved", "reopen", "closed"):
                if not states:
                    continue
                case = list(states)[n % len(states)]
                to = MOVE_TO[verb]
                if to in ALLOWED[states[case]]:
                    assert (await store.cases.move(case, to)).state == to
                    states[case] = to
                else:
                    with pytest.raises(Conflict):
                        await store.cases.move(case, to)
            else:
                parent = list(joined)[n % len(joined)] if verb == "reply" and joined else None
                parents_case = None if parent is None else joined[parent]
                if parents_case is not None and states[parents_case] == "closed":
                    with pytest.raises(Refused):
                        await _step(store, route, parent)
                    continue
                tx = await _step(store, route, parent)
                expected = parents_case if parents_case is not None else current()
                assert tx.case_id == expected
                joined[await _accepted(store, route, f"{buyer}-{len(joined)}", tx.case_id)] = (
                    tx.case_id)
        listed = {int(c.id): (c.state, c.messages)
                  for c in await store.cases.records(buyer=buyer)}
        assert listed == {c: (s, sum(1 for j in joined.values() if j == c))
                          for c, s in states.items()}
