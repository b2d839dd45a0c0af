"""Persistence behind narrow async methods; nothing outside this package imports SQLAlchemy.

Each public method is one transaction. The directory reads the store on every
call, so changes made with the CLI reach a running relay at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from relay.addresses import normalise_address
from relay.store import directory, messages, notices, queue, secrets
from relay.store import tables as t
from relay.store.batch import GroupCommit
from relay.store.engine import create_engine, create_sessionmaker
from relay.store.records import (
    Accepted,
    Aliases,
    AliasInfo,
    BounceContext,
    BuyerRecord,
    Conflict,
    Delivery,
    Direction,
    NotFound,
    OrderRecord,
    QueuedNotice,
    QueueItem,
    Route,
    SellerRecord,
    StoreError,
    StoreUnavailable,
    ThreadLink,
)

__all__ = [
    "Accepted",
    "AliasInfo",
    "Aliases",
    "BounceContext",
    "BuyerRecord",
    "Conflict",
    "Delivery",
    "Direction",
    "NotFound",
    "OrderRecord",
    "QueueItem",
    "QueuedNotice",
    "Route",
    "SellerRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "ThreadLink",
]


class Store:
    def __init__(self, url: str, alias_length: int, alias_domain: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url)
        self._sessions = create_sessionmaker(self.engine)
        self._alias_length = alias_length
        self._alias_domain = alias_domain
        self._accepts: GroupCommit[Accepted] = GroupCommit(self._begin, messages.accept)

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncSession]:
        """One transaction; database trouble leaves as a StoreError the CLI can word."""
        try:
            async with self._sessions.begin() as session:
                yield session
        except IntegrityError as exc:
            raise Conflict(f"that change conflicts with what is stored: {exc.orig}") from exc
        except DBAPIError as exc:
            raise StoreUnavailable(_explain(exc)) from exc
        except OSError as exc:
            raise StoreUnavailable(f"cannot reach the store at {self._where}: {exc}") from exc

    @property
    def _where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    async def close(self) -> None:
        await self._accepts.close()
        await self.engine.dispose()

    async def key(self, name: str) -> bytes:
        """A secret key of the relay's own, made on first use (e.g. "verp")."""
        async with self._begin() as session:
            return await secrets.get_or_make(session, name)

    async def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision."""
        from relay.store.migrate import upgrade

        await upgrade(self.engine)

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
        async with self._begin() as session:
            await directory.put_seller(
                session, seller_id, name, self._real(email), orders_per_day
            )
            return await directory.seller(session, seller_id)

    async def seller(self, seller_id: str) -> SellerRecord:
        async with self._begin() as session:
            return await directory.seller(session, seller_id)

    async def authorise(self, seller_id: str, address: str) -> SellerRecord:
        async with self._begin() as session:
            await directory.authorise(session, seller_id, self._real(address))
            return await directory.seller(session, seller_id)

    async def revoke(self, seller_id: str, address: str) -> SellerRecord:
        async with self._begin() as session:
            await directory.revoke(session, seller_id, normalise_address(address))
            return await directory.seller(session, seller_id)

    async def seller_owning(self, address: str) -> str | None:
        async with self._begin() as session:
            return await directory.seller_owning(session, address)

    async def put_buyer(
        self, buyer_id: str, email: str, name: str | None = None, language: str | None = None
    ) -> BuyerRecord:
        async with self._begin() as session:
            await directory.put_buyer(session, buyer_id, self._real(email), name, language)
            return await directory.buyer(session, buyer_id)

    async def buyer(self, buyer_id: str) -> BuyerRecord:
        async with self._begin() as session:
            return await directory.buyer(session, buyer_id)

    async def set_opt_out(self, buyer_id: str, opted_out: bool) -> BuyerRecord:
        async with self._begin() as session:
            await directory.set_opt_out(session, buyer_id, opted_out)
            return await directory.buyer(session, buyer_id)

    async def put_order(
        self, order_id: str, buyer_id: str, seller_id: str, status: str | None = None
    ) -> OrderRecord:
        async with self._begin() as session:
            rel = await self._relationship(session, buyer_id, seller_id)
            await directory.put_order(session, order_id, rel.id, status)
            return await directory.order(session, order_id)

    async def aliases(self, buyer_id: str, seller_id: str) -> Aliases:
        """The pair's two aliases, created on first use."""
        async with self._begin() as session:
            rel = await self._relationship(session, buyer_id, seller_id)
            return directory.aliases_of(rel)

    async def _relationship(
        self, session: AsyncSession, buyer_id: str, seller_id: str
    ) -> t.Relationship:
        return await directory.relationship(
            session, buyer_id, seller_id, self._alias_length, self._alias_domain
        )

    async def lookup(self, alias: str) -> AliasInfo:
        async with self._begin() as session:
            return await directory.lookup(session, normalise_address(alias))

    async def route(self, alias: str) -> Route | None:
        async with self._begin() as session:
            return await directory.route(session, normalise_address(alias))

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
        async with self._begin() as session:
            return await messages.thread_links(session, relationship_id, direction, ids)

    async def archived(self, message_id: str) -> dict[str, bytes]:
        async with self._begin() as session:
            return await messages.archived(session, message_id)

    # -- queue ---------------------------------------------------------------

    async def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
        async with self._begin() as session:
            return await queue.claim(session, now, lease, limit)

    async def delivered(self, delivery: Delivery) -> None:
        async with self._begin() as session:
            await queue.delivered(session, delivery.queue_id, delivery.message_id)

    async def retry_at(self, delivery: Delivery, when: datetime, error: str) -> None:
        async with self._begin() as session:
            await queue.retry_at(session, delivery.queue_id, when, error)

    async def failed(
        self, delivery: Delivery, error: str, notice: QueuedNotice | None = None
    ) -> None:
        """Give up on a delivery and, in the same commit, queue the notice to its sender."""
        async with self._begin() as session:
            await queue.failed(session, delivery.queue_id, delivery.message_id, error)
            if notice is not None:
                await notices.enqueue(session, notice)

    async def accept_report(
        self, message_id: str, about: str, received: bytes, notice: QueuedNotice | None
    ) -> None:
        """Record a bounce that came back to a VERP address, in one commit."""
        async with self._begin() as session:
            await notices.record_report(session, message_id, about, received, notice)

    async def release(self, deliveries: list[Delivery]) -> None:
        async with self._begin() as session:
            await queue.release(session, [d.queue_id for d in deliveries])

    async def bounce_context(self, message_id: str) -> BounceContext | None:
        async with self._begin() as session:
            return await notices.bounce_context(session, message_id, self._alias_domain)

    async def retry_now(self, message_id: str) -> None:
        async with self._begin() as session:
            await queue.retry_now(session, message_id, _now())

    async def drop(self, message_id: str, notice: QueuedNotice | None = None) -> None:
        async with self._begin() as session:
            await queue.drop(session, message_id, _now())
            if notice is not None:
                await notices.enqueue(session, notice)

    async def queue_items(self) -> list[QueueItem]:
        async with self._begin() as session:
            return await queue.items(session)


def _now() -> datetime:
    return datetime.now(UTC)


def _explain(exc: DBAPIError) -> str:
    text = str(exc.orig)
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return 'the store has no schema yet: run "relay db upgrade"'
    return f"the store failed: {text.splitlines()[0] if text else type(exc.orig).__name__}"
