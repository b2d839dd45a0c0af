"""Connections are opened once and kept: none per unit of work, however many run at once."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import Pool

from relay.model import Accepted
from relay.store import Store
from relay.store.engine import POOL_SIZE
from tests.unit.store.test_queue import accept


async def _busy(store: Store, rounds: int, sessions: int) -> None:
    """Bursts of concurrent sessions, each an RCPT lookup and an accept, with lulls between."""
    await accept(store, "first")
    aliases = await store.directory.aliases("b1", "s1")
    route = await store.directory.route(aliases.buyer_alias)
    assert route is not None
    base = Accepted(
        message_id="x", route=route, envelope_sender="owner@acme.example", subject="hi",
        original_message_id=None, relay_message_id="<x@relay.example>", parent_id=None,
        received=b"r", delivered=b"d", envelope_from="bounce-x@relay.example",
    )

    async def session(n: int) -> None:
        assert await store.directory.route(aliases.buyer_alias) == route
        await store.messages.accept(replace(base, message_id=f"m{n}",
                                            relay_message_id=f"<m{n}@relay.example>"))

    for r in range(rounds):
        await asyncio.gather(*(session(r * sessions + n) for n in range(sessions)))
        await asyncio.sleep(0.01)  # a lull: the connections go back to the pool


async def test_concurrent_units_reuse_the_pool(store_url: str) -> None:
    """Ten bursts of 20 sessions open at most the pool's connections, not new ones each burst."""
    opened: list[int] = []

    def count(_dbapi: Any, _record: Any) -> None:
        opened.append(1)

    event.listen(Pool, "connect", count)
    store = Store(store_url, 35, "relay.example")
    try:
        await _busy(store, rounds=10, sessions=20)
        assert len(await store.queue.items()) == 201
    finally:
        await store.close()
        event.remove(Pool, "connect", count)
    assert 1 <= len(opened) <= (1 if store_url.startswith("sqlite") else POOL_SIZE)


async def _drop_connections(url: str) -> int:
    """What a server restart does to the store: every connection it holds is cut."""
    import asyncpg

    parsed = make_url(url)
    admin = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                  user=parsed.username, password=parsed.password,
                                  database=parsed.database)
    try:
        return int(await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        await admin.close()


@pytest.mark.postgresql
async def test_lookups_survive_a_dropped_connection(postgres_url: str) -> None:
    """Kept connections are not pinged before each use; one the server cut is replaced."""
    store = Store(postgres_url, 35, "relay.example")
    try:
        ours = secrets.token_hex(4)  # the run's database is not emptied for this test
        await accept(store, f"{ours}-1")
        alias = (await store.directory.aliases("b1", "s1")).buyer_alias
        assert await _drop_connections(postgres_url) >= 1
        assert await store.directory.route(alias) is not None
        await accept(store, f"{ours}-2")  # the pool replaced the rest as well
    finally:
        await store.close()


async def test_postgresql_compresses_archived_forms_with_lz4(store: Store) -> None:
    """pglz, PostgreSQL's default, costs three times lz4's CPU on every form archived."""
    def compression(connection: Connection) -> str | None:
        if connection.dialect.name != "postgresql":
            return None
        return str(connection.exec_driver_sql(
            "SELECT attcompression::text FROM pg_attribute"
            " WHERE attrelid = 'archive'::regclass AND attname = 'data'").scalar())

    found = await store.database.run_connection(compression)
    assert found in (None, "l")
