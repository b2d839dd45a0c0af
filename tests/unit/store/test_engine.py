"""Where units of work run, and what makes a SQLite commit durable."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from relay.store import Store

DOMAIN = "relay.example"


async def test_sqlite_commits_are_fsynced_in_wal_mode(tmp_path: Path) -> None:
    """A 250 is only as good as the commit behind it: WAL with synchronous=FULL."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", 35, DOMAIN)
    try:
        def pragmas(connection: Connection) -> tuple[object, ...]:
            return tuple(connection.execute(text(f"PRAGMA {name}")).scalar()
                         for name in ("journal_mode", "synchronous", "foreign_keys"))

        assert await store.database.run_connection(pragmas) == ("wal", 2, 1)
    finally:
        await store.close()


async def test_sqlite_units_run_on_one_thread_off_the_event_loop(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", 35, DOMAIN)
    try:
        def where(_session: Session) -> int:
            return threading.get_ident()

        threads = set(await asyncio.gather(*(store.database.run(where) for _ in range(20))))
        assert len(threads) == 1
        assert threads != {threading.get_ident()}
    finally:
        await store.close()


async def test_a_light_write_lands_and_leaves_commits_durable(tmp_path: Path) -> None:
    """A lease is written without its own fsync; the next commit fsyncs again."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}", 35, DOMAIN)
    try:
        await store.upgrade()

        def light(connection: Connection) -> object:
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            return connection.execute(text("PRAGMA synchronous")).scalar()

        assert await store.database.run_connection(light, durable=False) == 1  # NORMAL

        def after(connection: Connection) -> tuple[object, ...]:
            return (connection.execute(text("SELECT x FROM t")).scalar(),
                    connection.execute(text("PRAGMA synchronous")).scalar())

        assert await store.database.run_connection(after) == (1, 2)  # FULL again
    finally:
        await store.close()
