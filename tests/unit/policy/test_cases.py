"""The cases step, called directly on both stores: which case a message joins, and refusals."""

from __future__ import annotations

import pytest

from relay import replies
from relay.message import Transaction
from relay.model import Accepted, Route
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
