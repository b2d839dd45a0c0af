"""The case store's guarantees under concurrency, beyond what the operations show."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session

from relay.model import Accepted, CasePlace, CaseRef, Route
from relay.store import Store, cases, messages
from relay.store.tables import utcnow
from tests.conftest import _truncate

DOMAIN = "relay.example"


async def _routes(store: Store, count: int) -> list[Route]:
    """Seller s1 and `count` buyers, one relationship each; the seller-to-buyer routes."""
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    found = []
    for n in range(count):
        await store.directory.put_buyer(f"b{n}", f"buyer{n}@mailbox.example")
        route = await store.directory.route((await store.directory.aliases(f"b{n}", "s1"))
                                            .buyer_alias)
        assert route is not None
        found.append(route)
    return found


async def _accept(store: Store, route: Route, message_id: str, case: int | None) -> str:
    await store.messages.accept(Accepted(
        message_id=message_id, route=route, envelope_sender="owner@acme.example",
        subject=None, original_message_id=None,
        relay_message_id=f"<{message_id}@relay.example>", parent_id=None, received=b"x",
        delivered=b"x", envelope_from="b@relay.example", case_id=case))
    return message_id


class TestPlaces:
    async def test_concurrent_messages_share_queries_and_each_gets_its_place(
        self, store: Store
    ) -> None:
        """Twenty pairs in every situation at once: few queries, each answer its own."""
        routes = await _routes(store, 20)
        asked: list[tuple[int, str | None]] = []
        expected: list[CasePlace] = []
        for n, route in enumerate(routes):
            rel = route.relationship_id
            assert rel is not None
            kind = n % 4
            if kind == 0:  # no case at all; a parent of no case
                parent = await _accept(store, route, f"{n:032d}", None)
                asked += [(rel, None), (rel, parent)]
                expected += [CasePlace(None, None)] * 2
                continue
            case = int((await store.cases.open(f"b{n}", "s1")).id)
            parent = await _accept(store, route, f"{n:032d}", case)
            if kind == 1:  # an open case, its message replied to
                ref = CaseRef(case, "open")
                asked += [(rel, None), (rel, parent), (rel, "f" * 32)]
                expected += [CasePlace(None, ref), CasePlace(ref, ref), CasePlace(None, ref)]
                continue
            await store.cases.move(case, "resolved")
            await store.cases.move(case, "closed")
            if kind == 2:  # closed, none open
                asked += [(rel, None), (rel, parent)]
                expected += [CasePlace(None, None), CasePlace(CaseRef(case, "closed"), None)]
                continue
            # closed, and a new one resolved
            new = int((await store.cases.open(f"b{n}", "s1")).id)
            await store.cases.move(new, "resolved")
            current = CaseRef(new, "resolved")
            asked += [(rel, None), (rel, parent)]
            expected += [CasePlace(None, current), CasePlace(CaseRef(case, "closed"), current)]
        queries: list[str] = []

        def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            queries.append(statement)

        event.listen(Engine, "before_cursor_execute", count)
        try:
            found = await asyncio.gather(*(store.cases.case_place(*key) for key in asked))
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert 1 <= len(queries) <= 5
        assert found == expected

    async def test_each_read_sees_what_is_stored_when_it_asks(self, store: Store) -> None:
        (route,) = await _routes(store, 1)
        assert route.relationship_id is not None
        assert await store.cases.case_place(route.relationship_id, None) == CasePlace(None, None)
        case = int((await store.cases.open("b0", "s1")).id)
        assert await store.cases.case_place(route.relationship_id, None) == CasePlace(
            None, CaseRef(case, "open"))


@pytest.mark.postgresql
async def test_a_close_waits_for_an_accept_in_flight(postgres_url: str) -> None:
    """PostgreSQL: a message committing into a case holds it open until its commit ends.

    So a close never lands between the accept's check of the case and its commit, and
    every message of a closed case was accepted before the close.
    """
    store, engine, accepted = await _setup(postgres_url)
    case = accepted.case_id
    assert case is not None
    try:
        def write(connection: Connection) -> None:
            messages.accept(connection, [accepted])

        async with engine.connect() as connection:
            await connection.begin()
            await connection.run_sync(write)
            closing = asyncio.create_task(store.cases.move(case, "closed"))
            await asyncio.sleep(0.3)
            assert not closing.done()  # waiting on the accept's lock
            await connection.commit()
            closed = await asyncio.wait_for(closing, 10)
        assert (closed.state, closed.messages) == ("closed", 1)
    finally:
        await engine.dispose()
        await store.close()


@pytest.mark.postgresql
async def test_an_accept_waits_for_a_close_in_flight(postgres_url: str) -> None:
    """PostgreSQL: a message checked into a case that is being closed waits for the close,
    then joins no case (the FOR SHARE in the accept; a foreign key check alone would let
    it join the case that just closed)."""
    store, engine, accepted = await _setup(postgres_url)
    case = accepted.case_id
    assert case is not None
    try:
        def close(connection: Connection) -> None:
            session = Session(bind=connection)
            cases.move(session, case, "closed", utcnow())
            session.flush()

        async with engine.connect() as connection:
            await connection.begin()
            await connection.run_sync(close)
            accepting = asyncio.create_task(store.messages.accept(accepted))
            await asyncio.sleep(0.3)
            assert not accepting.done()  # waiting on the close's lock
            await connection.commit()
            await asyncio.wait_for(accepting, 10)

        def case_of(connection: Connection) -> object:
            return connection.execute(text("SELECT case_id FROM messages")).scalar_one()

        assert await store.database.run_connection(case_of) is None
        (listed,) = await store.cases.records()
        assert (listed.state, listed.messages) == ("closed", 0)
    finally:
        await engine.dispose()
        await store.close()


async def _setup(url: str) -> tuple[Store, AsyncEngine, Accepted]:
    """A resolved case of b1-s1 on an empty PostgreSQL store, and a message for it."""
    await _truncate(url)
    store = Store(url, 35, DOMAIN)
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    await store.directory.put_buyer("b1", "bob@buyer.example")
    aliases = await store.directory.aliases("b1", "s1")
    route = await store.directory.route(aliases.buyer_alias)
    assert route is not None
    case = int((await store.cases.open("b1", "s1")).id)
    await store.cases.move(case, "resolved")
    accepted = Accepted(
        message_id="m" * 32, route=route, envelope_sender="owner@acme.example",
        subject=None, original_message_id=None, relay_message_id="<m@relay.example>",
        parent_id=None, received=b"x", delivered=b"x", envelope_from="b@relay.example",
        case_id=case)
    return store, create_async_engine(url), accepted
