"""The directory as one object: sellers, buyers, orders, aliases and routes, a transaction each.

The directory reads the store on every call, so changes made with the CLI
reach a running relay at once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from relay.addresses import normalise_address
from relay.errors import Invalid
from relay.model import Aliases, AliasInfo, BuyerRecord, OrderRecord, Route, SellerRecord
from relay.store import directory
from relay.store import tables as t
from relay.store.lookups import GroupLookup
from relay.store.routes import routes
from relay.store.units import Units


class DirectoryStore:
    """See `relay.ports.RouteLookup` for what the steps use."""

    def __init__(self, units: Units, alias_length: int, alias_domain: str) -> None:
        self._units = units
        self._alias_length = alias_length
        self._alias_domain = alias_domain
        self._routes: GroupLookup[str, Route] = GroupLookup(self._read_routes)

    def _real(self, address: str) -> str:
        """A party's real address; one at our own domain would make mail loop."""
        normalised = normalise_address(address)
        if normalised.rpartition("@")[2] == self._alias_domain:
            raise Invalid(
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

        return await self._units.session(work)

    async def seller(self, seller_id: str) -> SellerRecord:
        return await self._units.session(directory.seller, seller_id)

    async def authorise(self, seller_id: str, address: str) -> SellerRecord:
        real = self._real(address)

        def work(session: Session) -> SellerRecord:
            directory.authorise(session, seller_id, real)
            return directory.seller(session, seller_id)

        return await self._units.session(work)

    async def revoke(self, seller_id: str, address: str) -> SellerRecord:
        normalised = normalise_address(address)

        def work(session: Session) -> SellerRecord:
            directory.revoke(session, seller_id, normalised)
            return directory.seller(session, seller_id)

        return await self._units.session(work)

    async def seller_owning(self, address: str) -> str | None:
        return await self._units.session(directory.seller_owning, address)

    async def put_buyer(
        self, buyer_id: str, email: str, name: str | None = None, language: str | None = None
    ) -> BuyerRecord:
        real = self._real(email)

        def work(session: Session) -> BuyerRecord:
            directory.put_buyer(session, buyer_id, real, name, language)
            return directory.buyer(session, buyer_id)

        return await self._units.session(work)

    async def buyer(self, buyer_id: str) -> BuyerRecord:
        return await self._units.session(directory.buyer, buyer_id)

    async def set_opt_out(self, buyer_id: str, opted_out: bool) -> BuyerRecord:
        def work(session: Session) -> BuyerRecord:
            directory.set_opt_out(session, buyer_id, opted_out)
            return directory.buyer(session, buyer_id)

        return await self._units.session(work)

    async def put_order(
        self, order_id: str, buyer_id: str, seller_id: str, status: str | None = None
    ) -> OrderRecord:
        def work(session: Session) -> OrderRecord:
            def relationship() -> t.Relationship:
                return self._relationship(session, buyer_id, seller_id)

            directory.put_order(session, order_id, relationship, buyer_id, seller_id, status)
            return directory.order(session, order_id)

        return await self._units.session(work)

    async def order(self, order_id: str) -> OrderRecord:
        return await self._units.session(directory.order, order_id)

    async def set_order_status(self, order_id: str, status: str) -> OrderRecord:
        def work(session: Session) -> OrderRecord:
            directory.set_order_status(session, order_id, status)
            return directory.order(session, order_id)

        return await self._units.session(work)

    async def aliases(self, buyer_id: str, seller_id: str) -> Aliases:
        """The pair's two aliases, created on first use."""
        def work(session: Session) -> Aliases:
            return directory.aliases_of(self._relationship(session, buyer_id, seller_id))

        return await self._units.session(work)

    def _relationship(self, session: Session, buyer_id: str, seller_id: str) -> t.Relationship:
        return directory.relationship(
            session, buyer_id, seller_id, self._alias_length, self._alias_domain
        )

    async def lookup(self, alias: str) -> AliasInfo:
        return await self._units.session(directory.lookup, normalise_address(alias))

    async def route(self, alias: str) -> Route | None:
        """Where mail to `alias` goes; concurrent sessions' lookups share one query."""
        return await self._routes.get(normalise_address(alias))

    async def _read_routes(self, aliases: list[str]) -> dict[str, Route]:
        return await self._units.read(routes, aliases)

    async def close(self) -> None:
        await self._routes.close()
