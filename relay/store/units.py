"""The unit-of-work runner every concern shares: one transaction per call, errors mapped once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from relay.errors import Conflict, SchemaNotReady, StoreUnavailable
from relay.store.engine import Database

P = ParamSpec("P")
R = TypeVar("R")


class Units:
    """Runs repository functions, each in a transaction of its own.

    Database trouble leaves as the operations' errors (Conflict, StoreUnavailable).
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    async def session(
        self, work: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """One transaction over an ORM Session."""
        with self._errors():
            return await self.database.run(lambda session: work(session, *args, **kwargs))

    async def core(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """One transaction on a bare connection: the hot path, where a Session costs extra."""
        return await self._on_connection(lambda c: work(c, *args, **kwargs), durable=True)

    async def light(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """As `core`, for a write a machine failure may lose harmlessly (a lease)."""
        return await self._on_connection(lambda c: work(c, *args, **kwargs), durable=False)

    async def read(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """A lookup on a bare connection, which writes nothing: a route at RCPT, a body."""
        with self._errors():
            return await self.database.read(lambda c: work(c, *args, **kwargs))

    async def statements(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Writes each atomic alone, without a transaction around them (Database.run_statements).

        For a hot row many sessions update: its lock lasts one statement.
        """
        with self._errors():
            return await self.database.run_statements(lambda c: work(c, *args, **kwargs))

    async def batch(self, work: Callable[[Connection], None]) -> None:
        """A group commit's unit: durable, on a bare connection."""
        await self.core(work)

    async def _on_connection(self, call: Callable[[Connection], R], *, durable: bool) -> R:
        with self._errors():
            return await self.database.run_connection(call, durable=durable)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError as exc:
            raise Conflict(f"that change conflicts with what is stored: {exc.orig}") from exc
        except DBAPIError as exc:
            raise _explain(exc) from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot reach the store at {self._where}: {exc}") from exc
        except PoolTimeout as exc:
            raise StoreUnavailable(f"no connection to the store at {self._where} came free "
                                   "in time; is the database server overloaded?") from exc

    @property
    def _where(self) -> str:
        return self.database.url.render_as_string(hide_password=True)


def _explain(exc: DBAPIError) -> StoreUnavailable:
    text = str(exc.orig)
    # SQLite's and PostgreSQL's words for a missing table, then for a missing column.
    if "no such table" in text or text.startswith('relation "'):
        return SchemaNotReady("the store has no schema yet: run `relay db upgrade`")
    if "no such column" in text or ("column" in text and "does not exist" in text):
        return SchemaNotReady("the store's schema is older than this relay: run `relay db upgrade`")
    return StoreUnavailable(
        f"the store failed: {text.splitlines()[0] if text else type(exc.orig).__name__}"
    )
