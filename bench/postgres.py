"""The PostgreSQL store's row: a database of the bench's own, and what PostgreSQL itself spent.

The database is created on the server at $RELAY_BENCH_POSTGRES_URL (default:
the local server's `test` database, used only to create and drop ours) and
dropped at the end, whatever happens.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import BenchError, cpu_seconds

ADMIN_URL = os.environ.get(
    "RELAY_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass(frozen=True)
class Usage:
    """Counters read before and after a cell; their differences are the cell's."""

    sessions: int  # connections ever opened to our database (pg_stat_database.sessions)
    server_cpu: float  # seconds: the postmaster, its reaped children and its live ones


class BenchDatabase:
    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        from sqlalchemy.engine import make_url

        self._admin = make_url(admin_url)
        self.name = f"relay_bench_{secrets.token_hex(4)}"
        self.url = self._admin.set(database=self.name).render_as_string(hide_password=False)
        self._postmaster: int | None = None

    async def _connect(self, database: str | None = None) -> Any:
        import asyncpg

        url = self._admin
        try:
            return await asyncpg.connect(
                host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username,
                password=url.password, database=database or url.database, timeout=5,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            where = url.render_as_string(hide_password=True)
            raise BenchError(f"PostgreSQL at {where} is not usable: {exc}") from exc

    async def create(self) -> None:
        conn = await self._connect()
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
            self._postmaster = _parent(await conn.fetchval("SELECT pg_backend_pid()"))
        finally:
            await conn.close()

    async def drop(self) -> None:
        conn = await self._connect()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def usage(self) -> Usage:
        conn = await self._connect()
        try:
            sessions = await conn.fetchval(
                "SELECT sessions FROM pg_stat_database WHERE datname = $1", self.name)
        finally:
            await conn.close()
        return Usage(int(sessions or 0), _tree_cpu(self._postmaster))


def _parent(pid: int) -> int | None:
    """The parent of a local process; None when it is gone or elsewhere (no CPU figure)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _tree_cpu(postmaster: int | None) -> float:
    """CPU seconds of the server: reaped backends count in the postmaster's cutime/cstime."""
    if postmaster is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(int(f) for f in fields[11:15]) / ticks
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent(int(entry.name)) == postmaster:
            total += cpu_seconds(int(entry.name))
    return total
