"""Shared fixtures: settings, and a store on SQLite and on PostgreSQL.

PostgreSQL tests run against $RELAY_TEST_POSTGRES_URL (default: the local
server's `test` database, in which each run creates and drops its own database).
They are skipped with a reason when no server answers, unless
$RELAY_REQUIRE_POSTGRES is set, as CI does; then they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from relay.archive.chain import GENESIS
from relay.config import Settings, parse
from relay.store import Store
from relay.store.tables import Base
from tests.dns_server import DnsServer

PG_URL = os.environ.get(
    "RELAY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = bool(os.environ.get("RELAY_REQUIRE_POSTGRES"))
DOMAIN = "relay.example"

SettingsFactory = Callable[..., Settings]


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it, tables merged key by key (as TOML sections)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings built through the real parser, from a small TOML-shaped dict."""

    def factory(**sections: dict[str, Any]) -> Settings:
        document = merge(
            {
                "server": {"listen": "127.0.0.1:0", "hostname": "mx.relay.example"},
                "aliases": {"domain": DOMAIN},
                "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"},
                "upstream": {"kind": "outbox", "outbox_dir": str(tmp_path / "outbox")},
                "admin": {"address": "ops@marketplace.example"},
                "logging": {"format": "console", "level": "warning"},
                "metrics": {"listen": ""},  # tests that scrape ask for port 0
                "archive": {"checkpoint_file": str(tmp_path / "archive-checkpoints"),
                            "checkpoint_key_file": str(tmp_path / "archive-checkpoint.key")},
            },
            sections,
        )
        return parse(document, environ={})

    return factory


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _migrate(url: str) -> None:
    store = Store(url, 35, DOMAIN)
    try:
        await store.upgrade()
    finally:
        await store.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "relay.db"
    _run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        database=url.database, timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own on the PostgreSQL server, migrated once."""
    name = f"relay_test_{secrets.token_hex(4)}"
    try:
        _run(_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, Exception) as exc:
        reason = f"PostgreSQL at {make_url(PG_URL).render_as_string()} is not reachable: {exc}"
        if REQUIRE_PG:
            pytest.fail(reason + " (RELAY_REQUIRE_POSTGRES is set)")
        pytest.skip(reason)
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    _run(_migrate(url))
    yield url
    _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated store on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "store.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    store = Store(url, 35, DOMAIN)
    # DELETE beats TRUNCATE by far on tables this small.
    try:
        def delete_all(conn: Connection) -> None:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(text(f'DELETE FROM "{table.name}"'))
            # The archive's chain starts empty again, as migration 0012 leaves it.
            conn.execute(text("INSERT INTO archive_head (id, seq, hash, base_seq, base_hash) "
                              "VALUES (1, 0, :genesis, 0, :genesis)"), {"genesis": GENESIS})

        await store.database.run_connection(delete_all)
    finally:
        await store.close()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = Store(store_url, 35, DOMAIN)
    yield s
    await s.close()


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsServer]:
    """A DNS server on loopback (UDP and TCP, a free port) answering the test's records."""
    server = DnsServer()
    await server.start()
    yield server
    await server.stop()
