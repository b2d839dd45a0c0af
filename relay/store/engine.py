"""Where a unit of work runs: SQLite on one thread of its own, PostgreSQL on asyncpg.

A unit of work is a plain function over a sync Session; the store hands it to
a Database, which runs it as one transaction. For SQLite that means one hop
to a dedicated thread per transaction: an async driver would hop threads once
per statement, which cost more CPU than the statements themselves. asyncpg is
natively async, so PostgreSQL runs the same function in SQLAlchemy's greenlet
bridge, with no thread at all, on a fixed set of connections kept open.

The configured URL stays `sqlite+aiosqlite:///PATH` (SPEC §3); only the driver
underneath is the standard library's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

T = TypeVar("T")


class Database(Protocol):
    url: URL

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction, committed when it returns."""
        ...

    async def run_connection(self, work: Callable[[Connection], T], *,
                             durable: bool = True) -> T:
        """Run `work` on a bare connection in one transaction.

        `durable=False` is for writes that may be lost with the machine, such as
        a claim's lease, when the relay dies with it: SQLite flushes the commit
        with the next durable one. A database server is not trusted so far.
        """
        ...

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run a lookup on a bare connection; it writes nothing, so it needs no commit.

        On PostgreSQL it runs without a transaction of its own (each statement
        sees what is committed), which saves the BEGIN and COMMIT round trips.
        """
        ...

    async def run_statements(self, work: Callable[[Connection], T]) -> T:
        """Run writes that are each atomic alone, without a transaction around them.

        On PostgreSQL each statement commits as it runs, so a row it locks (the
        day's quota row every message of a seller updates) is held for that
        statement only, not across the event loop's turn that a COMMIT waits for.
        SQLite has one writer anyway: there it is a light unit.
        """
        ...

    async def dispose(self) -> None: ...


def open_database(url: str) -> Database:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteDatabase(parsed)
    return AsyncDatabase(parsed)


class SqliteDatabase:
    def __init__(self, url: URL) -> None:
        self.url = url
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection, used by one thread: SQLite has one writer anyway, and
        # transactions queueing for the thread cost nothing, whereas losers of a
        # lock race between connections sleep in SQLite's busy handler.
        self._engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=1, max_overflow=0, pool_timeout=60,
        )
        event.listen(self._engine, "connect", _pragmas)
        self._held: Connection | None = None  # checked out for good; only the thread touches it
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-sqlite")

    async def run(self, work: Callable[[Session], T]) -> T:
        return await self._on_thread(self._unit, work)

    async def run_connection(self, work: Callable[[Connection], T], *,
                             durable: bool = True) -> T:
        unit = self._connection_unit if durable else self._light_unit
        return await self._on_thread(unit, work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        # pysqlite opens no transaction for reads: this is already a bare lookup.
        return await self._on_thread(self._connection_unit, work)

    async def run_statements(self, work: Callable[[Connection], T]) -> T:
        return await self._on_thread(self._light_unit, work)

    def _connection(self) -> Connection:
        # Kept checked out: a pool checkout and return per transaction cost as
        # much as the hot path's statements. A broken one is replaced.
        if self._held is None or self._held.invalidated or self._held.closed:
            if self._held is not None:
                self._held.close()
            self._held = self._engine.connect()
        return self._held

    def _unit(self, work: Callable[[Session], T]) -> T:
        with Session(bind=self._connection(), expire_on_commit=False) as session, \
                session.begin():
            return work(session)

    def _connection_unit(self, work: Callable[[Connection], T]) -> T:
        connection = self._connection()
        with connection.begin():
            return work(connection)

    def _light_unit(self, work: Callable[[Connection], T]) -> T:
        # In WAL mode a NORMAL commit survives a crash of the process, not of the
        # machine; the next FULL commit's fsync takes its frames to disk as well.
        # pysqlite begins SQLite's transaction at the first write, so the pragma
        # still runs outside one, as it must.
        connection = self._connection()
        try:
            with connection.begin():
                connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
                return work(connection)
        finally:
            with connection.begin():
                connection.exec_driver_sql("PRAGMA synchronous=FULL")

    def _close(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None
        self._engine.dispose()

    async def _on_thread(self, unit: Callable[[Callable[[Any], T]], T],
                         work: Callable[[Any], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, unit, work)

    async def dispose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=False)


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL on
    # every commit, which is what makes "250 after commit" durable.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Connections one relay process keeps to PostgreSQL: the delivery workers (4 by
# default), the two group-commit writers, the heartbeat and the RCPT lookups of
# concurrent sessions. Each is opened once and kept: a new backend costs
# PostgreSQL far more CPU than the units it would run (SQLAlchemy's default pool
# kept 5 and closed the rest, which opened 0.46 connections per message). A unit
# beyond these waits for one to come back.
POOL_SIZE = 12
# How long a unit waits for a connection before the store counts as unavailable.
POOL_WAIT_SECONDS = 30


class AsyncDatabase:
    def __init__(self, url: URL) -> None:
        self.url = url
        # No ping before each use: it costs three round trips per unit. A connection
        # the server dropped fails its unit once (a lookup is retried) and makes
        # SQLAlchemy replace every pooled connection.
        self._engine = create_async_engine(
            url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=POOL_WAIT_SECONDS,
            pool_pre_ping=False,
        )
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        self._lookups = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    async def run(self, work: Callable[[Session], T]) -> T:
        async with self._sessions.begin() as session:
            return await session.run_sync(work)

    async def run_connection(self, work: Callable[[Connection], T], *,
                             durable: bool = True) -> T:
        # Every commit is durable here: the relay outlives a crash of the database
        # server, so a lease lost with it could let another instance send again.
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    async def read(self, work: Callable[[Connection], T]) -> T:
        try:
            return await self._lookup(work)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The server dropped the connection (it restarted): SQLAlchemy now
            # replaces every pooled one, and a lookup is safe to run again.
            return await self._lookup(work)

    async def run_statements(self, work: Callable[[Connection], T]) -> T:
        # Not retried as a lookup is: a statement may have committed before the drop.
        return await self._lookup(work)

    async def _lookup(self, work: Callable[[Connection], T]) -> T:
        async with self._lookups.connect() as connection:
            return await connection.run_sync(work)

    async def dispose(self) -> None:
        await self._engine.dispose()
