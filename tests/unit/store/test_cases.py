"""The case store's guarantees under concurrency, beyond what the operations show."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session

from relay.model import Accepted
from relay.store import Store, cases, messages
from relay.store.tables import utcnow
from tests.conftest import _truncate

DOMAIN = "relay.example"


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
