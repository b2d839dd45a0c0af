"""Sellers, buyers, orders and relationships with their aliases; resolving an alias to a route.

Functions here take the caller's session and never commit.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from relay.addresses import new_alias
from relay.store import tables as t
from relay.store.records import (
    Aliases,
    AliasInfo,
    BuyerRecord,
    Conflict,
    NotFound,
    OrderRecord,
    Route,
    SellerRecord,
)


async def _seller_row(session: AsyncSession, seller_id: str) -> t.Seller:
    row = await session.get(t.Seller, seller_id)
    if row is None:
        raise NotFound(f"no seller {seller_id!r}")
    return row


async def _buyer_row(session: AsyncSession, buyer_id: str) -> t.Buyer:
    row = await session.get(t.Buyer, buyer_id)
    if row is None:
        raise NotFound(f"no buyer {buyer_id!r}")
    return row


async def seller_addresses(session: AsyncSession, seller_id: str) -> tuple[str, ...]:
    rows = await session.scalars(
        select(t.SellerAddress.address)
        .where(t.SellerAddress.seller_id == seller_id)
        .order_by(t.SellerAddress.address)
    )
    return tuple(rows)


async def seller(session: AsyncSession, seller_id: str) -> SellerRecord:
    row = await _seller_row(session, seller_id)
    addresses = await seller_addresses(session, seller_id)
    return SellerRecord(row.id, row.name, row.email, row.orders_per_day, addresses)


async def put_seller(
    session: AsyncSession, seller_id: str, name: str, email: str, orders_per_day: int | None
) -> None:
    row = await session.get(t.Seller, seller_id)
    if row is None:
        session.add(t.Seller(id=seller_id, name=name, email=email, orders_per_day=orders_per_day))
    else:
        row.name, row.email = name, email
        if orders_per_day is not None:
            row.orders_per_day = orders_per_day
    await session.flush()
    await authorise(session, seller_id, email)


async def authorise(session: AsyncSession, seller_id: str, address: str) -> None:
    await _seller_row(session, seller_id)
    if await session.get(t.SellerAddress, (seller_id, address)) is None:
        session.add(t.SellerAddress(seller_id=seller_id, address=address))
        await session.flush()


async def revoke(session: AsyncSession, seller_id: str, address: str) -> None:
    row = await _seller_row(session, seller_id)
    if address == row.email:
        raise Conflict(
            f"{address} is the primary address of seller {seller_id}; give the seller "
            "another primary address with `relay seller add` before revoking this one"
        )
    result = await session.execute(
        delete(t.SellerAddress).where(
            t.SellerAddress.seller_id == seller_id, t.SellerAddress.address == address
        )
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"{address} is not an authorised address of seller {seller_id!r}")


async def seller_owning(session: AsyncSession, address: str) -> str | None:
    """The seller who may send from `address`, if any."""
    return await session.scalar(
        select(t.SellerAddress.seller_id).where(t.SellerAddress.address == address).limit(1)
    )


async def buyer(session: AsyncSession, buyer_id: str) -> BuyerRecord:
    row = await _buyer_row(session, buyer_id)
    return BuyerRecord(row.id, row.email, row.name, row.language, row.opted_out)


async def put_buyer(
    session: AsyncSession, buyer_id: str, email: str, name: str | None, language: str | None
) -> None:
    row = await session.get(t.Buyer, buyer_id)
    if row is None:
        session.add(t.Buyer(id=buyer_id, email=email, name=name, language=language))
    else:
        row.email = email
        if name is not None:
            row.name = name
        if language is not None:
            row.language = language
    await session.flush()


async def set_opt_out(session: AsyncSession, buyer_id: str, opted_out: bool) -> None:
    row = await _buyer_row(session, buyer_id)
    row.opted_out = opted_out


async def _unused_alias(session: AsyncSession, length: int, domain: str) -> str:
    # 60+ bits make a collision vanishingly rare; the unique index is the real guard.
    while True:
        alias = new_alias(length, domain)
        taken = await session.scalar(
            select(func.count())
            .select_from(t.Relationship)
            .where((t.Relationship.buyer_alias == alias) | (t.Relationship.seller_alias == alias))
        )
        if not taken:
            return alias


async def relationship(
    session: AsyncSession, buyer_id: str, seller_id: str, length: int, domain: str
) -> t.Relationship:
    """The pair's relationship, created with two fresh aliases the first time."""
    query = select(t.Relationship).where(
        t.Relationship.buyer_id == buyer_id, t.Relationship.seller_id == seller_id
    )
    row = await session.scalar(query)
    if row is not None:
        return row
    await _buyer_row(session, buyer_id)
    await _seller_row(session, seller_id)
    row = t.Relationship(
        buyer_id=buyer_id,
        seller_id=seller_id,
        buyer_alias=await _unused_alias(session, length, domain),
        seller_alias=await _unused_alias(session, length, domain),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another process created the pair at the same moment: use theirs.
        found = await session.scalar(query)
        if found is None:
            raise
        return found
    return row


def aliases_of(row: t.Relationship) -> Aliases:
    return Aliases(buyer_alias=row.buyer_alias, seller_alias=row.seller_alias)


async def put_order(
    session: AsyncSession, order_id: str, relationship_id: int, status: str | None
) -> None:
    row = await session.get(t.Order, order_id)
    if row is None:
        session.add(
            t.Order(id=order_id, relationship_id=relationship_id, status=status or "unshipped")
        )
    else:
        row.relationship_id = relationship_id
        if status is not None:
            row.status = status
    await session.flush()


async def order(session: AsyncSession, order_id: str) -> OrderRecord:
    found = (
        await session.execute(
            select(t.Order, t.Relationship)
            .join(t.Relationship, t.Order.relationship_id == t.Relationship.id)
            .where(t.Order.id == order_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"no order {order_id!r}")
    row, rel = found
    return OrderRecord(row.id, rel.buyer_id, rel.seller_id, row.status)


async def _by_alias(session: AsyncSession, alias: str) -> tuple[t.Relationship, bool] | None:
    """The relationship an alias belongs to, and whether it is the buyer alias."""
    row = await session.scalar(
        select(t.Relationship).where(
            (t.Relationship.buyer_alias == alias) | (t.Relationship.seller_alias == alias)
        )
    )
    if row is None:
        return None
    return row, row.buyer_alias == alias


async def lookup(session: AsyncSession, alias: str) -> AliasInfo:
    found = await _by_alias(session, alias)
    if found is None:
        raise NotFound(f"no alias {alias}")
    row, is_buyer_alias = found
    orders = await session.scalars(
        select(t.Order.id).where(t.Order.relationship_id == row.id).order_by(t.Order.created_at)
    )
    return AliasInfo(
        kind="buyer" if is_buyer_alias else "seller",
        buyer=row.buyer_id,
        seller=row.seller_id,
        orders=tuple(orders),
    )


async def route(session: AsyncSession, alias: str) -> Route | None:
    """Resolve an alias to its recipient and its authorised senders."""
    found = await _by_alias(session, alias)
    if found is None:
        return None
    row, is_buyer_alias = found
    buyer_row = await _buyer_row(session, row.buyer_id)
    seller_row = await _seller_row(session, row.seller_id)
    if is_buyer_alias:  # the seller writes to the buyer
        return Route(
            alias=alias,
            direction="seller-to-buyer",
            relationship_id=row.id,
            buyer_id=row.buyer_id,
            seller_id=row.seller_id,
            recipient=buyer_row.email,
            sender_addresses=await seller_addresses(session, row.seller_id),
            sender_name=seller_row.name,
            sender_alias=row.seller_alias,
        )
    return Route(
        alias=alias,
        direction="buyer-to-seller",
        relationship_id=row.id,
        buyer_id=row.buyer_id,
        seller_id=row.seller_id,
        recipient=seller_row.email,
        sender_addresses=(buyer_row.email,),
        sender_name=buyer_row.name or "Buyer",
        sender_alias=row.buyer_alias,
    )
