"""Persistence behind narrow async methods; nothing outside this package imports SQLAlchemy.

Each public method is one transaction. The directory reads the store on every
call, so changes made with the CLI reach a running relay at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from relay.addresses import normalise_address
from relay.errors import Conflict, StoreUnavailable
from relay.model import (
    Accepted,
    Aliases,
    AliasInfo,
    BounceContext,
    BuyerRecord,
    Delivery,
    Direction,
    OrderRecord,
    QueuedNotice,
    QueueItem,
    Route,
    SellerRecord,
    ThreadLink,
)
from relay.store import directory, messages, notices, queue, secrets
from relay.store import tables as t
from relay.store.batch import GroupCommit
from relay.store.engine import Database, open_database

__all__ = ["Store"]


P = ParamSpec("P")
R = TypeVar("R")


class Store:
    def __init__(self, url: str, alias_length: int, alias_domain: str) -> None:
        self.url = url
        self.database: Database = open_database(url)
        self._alias_length = alias_length
        self._alias_domain = alias_domain
        self._accepts: GroupCommit[Accepted] = GroupCommit(self._core_unit, messages.accept)
        self._settled: GroupCommit[tuple[int, str]] = GroupCommit(self._core_unit, queue.delivered)

    async def _run(
        self, work: Callable[Concatenate[Session, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """One transaction; database trouble leaves as a StoreError the CLI can word."""
        with self._errors():
            return await self.database.run(lambda session: work(session, *args, **kwargs))

    async def _core(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """One transaction on a bare connection: the hot path, where a Session costs extra."""
        return await self._on_connection(lambda c: work(c, *args, **kwargs), durable=True)

    async def _light(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """As `_core`, for a write a machine failure may lose harmlessly (a lease)."""
        return await self._on_connection(lambda c: work(c, *args, **kwargs), durable=False)

    async def _on_connection(self, call: Callable[[Connection], R], *, durable: bool) -> R:
        with self._errors():
            return await self.database.run_connection(call, durable=durable)

    async def _core_unit(self, work: Callable[[Connection], None]) -> None:
        await self._core(work)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError as exc:
            raise Conflict(f"that change conflicts with what is stored: {exc.orig}") from exc
        except DBAPIError as exc:
            raise StoreUnavailable(_explain(exc)) from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot reach the store at {self._where}: {exc}") from exc

    @property
    def _where(self) -> str:
        return self.database.url.render_as_string(hide_password=True)

    async def close(self) -> None:
        await self._accepts.close()
        await self._settled.close()
        await self.database.dispose()

    async def key(self, name: str) -> bytes:
        """A secret key of the relay's own, made on first use (e.g. "verp")."""
        return await self._run(secrets.get_or_make, name)

    async def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision."""
        from relay.store.migrate import upgrade

        await upgrade(self.database)

    # -- directory -----------------------------------------------------------

    def _real(self, address: str) -> str:
        """A party's real address; one at our own domain would make mail loop."""
        normalised = normalise_address(address)
        if normalised.rpartition("@")[2] == self._alias_domain:
            raise ValueError(
                f"{address} is at the relay's own domain; a real address is needed"
            )
        return normalised

    async def put_seller(
        self, seller_id: str, name: str, email: str, orders_per_day: int | None = None
    ) -> SellerRecord:
        real = self._real(email)

        def work(session: Session) -> SellerRecord:
            directory.put_seller(session, seller_id, name, real, orders_per_day)
            return directory.seller(session, seller_id)

        return await self._run(work)

    async def seller(self, seller_id: str) -> SellerRecord:
        return await self._run(directory.seller, seller_id)

    async def authorise(self, seller_id: str, address: str) -> SellerRecord:
        real = self._real(address)

        def work(session: Session) -> SellerRecord:
            directory.authorise(session, seller_id, real)
            return directory.seller(session, seller_id)

        return await self._run(work)

    async def revoke(self, seller_id: str, address: str) -> SellerRecord:
        normalised = normalise_address(address)

        def work(session: Session) -> SellerRecord:
            directory.revoke(session, seller_id, normalised)
            return directory.seller(session, seller_id)

        return await self._run(work)

    async def seller_owning(self, address: str) -> str | None:
        return await self._run(directory.seller_owning, address)

    async def put_buyer(
        self, buyer_id: str, email: str, name: str | None = None, language: str | None = None
    ) -> BuyerRecord:
        real = self._real(email)

        def work(session: Session) -> BuyerRecord:
            directory.put_buyer(session, buyer_id, real, name, language)
            return directory.buyer(session, buyer_id)

        return await self._run(work)

    async def buyer(self, buyer_id: str) -> BuyerRecord:
        return await self._run(directory.buyer, buyer_id)

    async def set_opt_out(self, buyer_id: str, opted_out: bool) -> BuyerRecord:
        def work(session: Session) -> BuyerRecord:
            directory.set_opt_out(session, buyer_id, opted_out)
            return directory.buyer(session, buyer_id)

        return await self._run(work)

    async def put_order(
        self, order_id: str, buyer_id: str, seller_id: str, status: str | None = None
    ) -> OrderRecord:
        def work(session: Session) -> OrderRecord:
            rel = self._relationship(session, buyer_id, seller_id)
            directory.put_order(session, order_id, rel.id, status)
            return directory.order(session, order_id)

        return await self._run(work)

    async def aliases(self, buyer_id: str, seller_id: str) -> Aliases:
        """The pair's two aliases, created on first use."""
        def work(session: Session) -> Aliases:
            return directory.aliases_of(self._relationship(session, buyer_id, seller_id))

        return await self._run(work)

    def _relationship(self, session: Session, buyer_id: str, seller_id: str) -> t.Relationship:
        return directory.relationship(
            session, buyer_id, seller_id, self._alias_length, self._alias_domain
        )

    async def lookup(self, alias: str) -> AliasInfo:
        return await self._run(directory.lookup, normalise_address(alias))

    async def route(self, alias: str) -> Route | None:
        return await self._core(directory.route, normalise_address(alias))

    # -- messages ------------------------------------------------------------

    async def accept(self, accepted: Accepted) -> None:
        """The 250 boundary: message, both archived forms and the queue row, or nothing.

        Concurrent calls share one commit (group commit); each returns only once
        its own rows are durable.
        """
        await self._accepts.submit(accepted)

    async def thread_links(
        self, relationship_id: int, direction: Direction, ids: list[str]
    ) -> dict[str, ThreadLink]:
        return await self._run(messages.thread_links, relationship_id, direction, ids)

    async def archived(self, message_id: str) -> dict[str, bytes]:
        return await self._run(messages.archived, message_id)

    # -- queue ---------------------------------------------------------------

    async def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        # A lease lost with the machine only means the entry is claimed again.
        return await self._light(queue.claim, now, lease, limit)

    async def body(self, delivery: Delivery) -> bytes:
        """The bytes to send for a claimed delivery."""
        if delivery.data is not None:
            return delivery.data
        return await self._core(queue.body, delivery.message_id)

    async def delivered(self, delivery: Delivery) -> None:
        """Settle a delivery; concurrent settlements share one commit."""
        await self._settled.submit((delivery.queue_id, delivery.message_id))

    async def retry_at(self, delivery: Delivery, when: datetime, error: str) -> None:
        await self._run(queue.retry_at, delivery.queue_id, when, error)

    async def failed(
        self, delivery: Delivery, error: str, notice: QueuedNotice | None = None
    ) -> None:
        """Give up on a delivery and, in the same commit, queue the notice to its sender."""
        def work(session: Session) -> None:
            queue.failed(session, delivery.queue_id, delivery.message_id, error)
            if notice is not None:
                notices.enqueue(session, notice)

        await self._run(work)

    async def accept_report(
        self, message_id: str, about: str, received: bytes, notice: QueuedNotice | None
    ) -> None:
        """Record a bounce that came back to a VERP address, in one commit."""
        await self._run(notices.record_report, message_id, about, received, notice)

    async def release(self, deliveries: list[Delivery]) -> None:
        await self._run(queue.release, [d.queue_id for d in deliveries])

    async def bounce_context(self, message_id: str) -> BounceContext | None:
        return await self._run(notices.bounce_context, message_id, self._alias_domain)

    async def retry_now(self, message_id: str) -> None:
        await self._run(queue.retry_now, message_id, _now())

    async def drop(self, message_id: str, notice: QueuedNotice | None = None) -> None:
        now = _now()

        def work(session: Session) -> None:
            queue.drop(session, message_id, now)
            if notice is not None:
                notices.enqueue(session, notice)

        await self._run(work)

    async def queue_items(self) -> list[QueueItem]:
        return await self._run(queue.items)


def _now() -> datetime:
    return datetime.now(UTC)


def _explain(exc: DBAPIError) -> str:
    text = str(exc.orig)
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return 'the store has no schema yet: run "relay db upgrade"'
    return f"the store failed: {text.splitlines()[0] if text else type(exc.orig).__name__}"
