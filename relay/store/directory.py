"""Sellers, buyers, orders and relationships with their aliases; resolving an alias to a route.

Functions here take the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay.addresses import new_alias
from relay.errors import Conflict, NotAllowed, NotFound
from relay.model import (
    NEW_ORDER_STATUS,
    Aliases,
    AliasInfo,
    BuyerRecord,
    OrderRecord,
    SellerRecord,
)
from relay.store import tables as t


def _seller_row(session: Session, seller_id: str) -> t.Seller:
    row = session.get(t.Seller, seller_id)
    if row is None:
        raise NotFound(f"no seller {seller_id!r}")
    return row


def _buyer_row(session: Session, buyer_id: str) -> t.Buyer:
    row = session.get(t.Buyer, buyer_id)
    if row is None:
        raise NotFound(f"no buyer {buyer_id!r}")
    return row


_ADDRESSES = (
    select(t.SELLER_ADDRESSES.c.address)
    .where(t.SELLER_ADDRESSES.c.seller_id == bindparam("seller_id"))
    .order_by(t.SELLER_ADDRESSES.c.address)
)


def seller_addresses(db: Session | Connection, seller_id: str) -> tuple[str, ...]:
    return tuple(db.execute(_ADDRESSES, {"seller_id": seller_id}).scalars())


def seller(session: Session, seller_id: str) -> SellerRecord:
    row = _seller_row(session, seller_id)
    addresses = seller_addresses(session, seller_id)
    return SellerRecord(row.id, row.name, row.email, row.orders_per_day, addresses)


def put_seller(
    session: Session, seller_id: str, name: str, email: str, orders_per_day: int | None
) -> None:
    """Create or update a seller; a new primary address replaces the old one."""
    _unowned(session, seller_id, email)
    row = session.get(t.Seller, seller_id)
    if row is None:
        session.add(t.Seller(id=seller_id, name=name, email=email, orders_per_day=orders_per_day))
    else:
        if row.email != email:
            _forget(session, seller_id, row.email)
        row.name, row.email = name, email
        if orders_per_day is not None:
            row.orders_per_day = orders_per_day
    session.flush()
    authorise(session, seller_id, email)


def _unowned(session: Session, seller_id: str, address: str) -> None:
    """One address belongs to at most one seller: the sender check must name one owner."""
    owner = seller_owning(session, address)
    if owner is not None and owner != seller_id:
        # Neutral wording: which seller has it is not the caller's business.
        raise Conflict(f"{address} is already an address of another seller")


def _forget(session: Session, seller_id: str, address: str) -> int:
    result = session.execute(
        delete(t.SellerAddress).where(
            t.SellerAddress.seller_id == seller_id, t.SellerAddress.address == address
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def authorise(session: Session, seller_id: str, address: str) -> None:
    _seller_row(session, seller_id)
    _unowned(session, seller_id, address)
    if session.get(t.SellerAddress, (seller_id, address)) is None:
        session.add(t.SellerAddress(seller_id=seller_id, address=address))
        session.flush()


def revoke(session: Session, seller_id: str, address: str) -> None:
    row = _seller_row(session, seller_id)
    if address == row.email:
        raise NotAllowed(
            f"{address} is the seller's primary address; "
            "set a new primary with `relay seller add --email` first"
        )
    if _forget(session, seller_id, address) == 0:
        raise NotFound(f"{address} is not an authorised address of seller {seller_id!r}")


def seller_owning(session: Session, address: str) -> str | None:
    """The seller who may send from `address`, if any."""
    return session.scalar(
        select(t.SellerAddress.seller_id).where(t.SellerAddress.address == address).limit(1)
    )


def buyer(session: Session, buyer_id: str) -> BuyerRecord:
    row = _buyer_row(session, buyer_id)
    return BuyerRecord(row.id, row.email, row.name, row.language, row.opted_out)


def put_buyer(
    session: Session, buyer_id: str, email: str, name: str | None, language: str | None
) -> None:
    row = session.get(t.Buyer, buyer_id)
    if row is None:
        session.add(t.Buyer(id=buyer_id, email=email, name=name, language=language))
    else:
        row.email = email
        if name is not None:
            row.name = name
        if language is not None:
            row.language = language
    session.flush()


def set_opt_out(session: Session, buyer_id: str, opted_out: bool) -> None:
    row = _buyer_row(session, buyer_id)
    row.opted_out = opted_out


def _unused_alias(session: Session, length: int, domain: str) -> str:
    # 60+ bits make a collision vanishingly rare; the unique index is the real guard.
    while True:
        alias = new_alias(length, domain)
        taken = session.scalar(
            select(func.count())
            .select_from(t.Relationship)
            .where((t.Relationship.buyer_alias == alias) | (t.Relationship.seller_alias == alias))
        )
        if not taken:
            return alias


def relationship(
    session: Session, buyer_id: str, seller_id: str, length: int, domain: str
) -> t.Relationship:
    """The pair's relationship, created with two fresh aliases the first time."""
    query = select(t.Relationship).where(
        t.Relationship.buyer_id == buyer_id, t.Relationship.seller_id == seller_id
    )
    row = session.scalar(query)
    if row is not None:
        return row
    _buyer_row(session, buyer_id)
    _seller_row(session, seller_id)
    row = t.Relationship(
        buyer_id=buyer_id,
        seller_id=seller_id,
        buyer_alias=_unused_alias(session, length, domain),
        seller_alias=_unused_alias(session, length, domain),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another process created the pair at the same moment: use theirs.
        found = session.scalar(query)
        if found is None:
            raise
        return found
    return row


def aliases_of(row: t.Relationship) -> Aliases:
    return Aliases(buyer_alias=row.buyer_alias, seller_alias=row.seller_alias)


def put_order(
    session: Session, order_id: str, relationship: Callable[[], t.Relationship],
    buyer_id: str, seller_id: str, status: str | None,
) -> None:
    """Create an order, or set its status; an order never changes hands.

    `relationship` makes or finds the pair's relationship; only a new order needs it.
    """
    row = session.get(t.Order, order_id)
    if row is None:
        rel_id = relationship().id
        session.add(t.Order(id=order_id, relationship_id=rel_id,
                            status=status or NEW_ORDER_STATUS))
    else:
        owners = session.get_one(t.Relationship, row.relationship_id)
        for field, stored, given in (("seller", owners.seller_id, seller_id),
                                     ("buyer", owners.buyer_id, buyer_id)):
            if stored != given:
                raise Conflict(f"order {order_id} belongs to {field} {stored}, not {given}")
        if status is not None:
            row.status = status
    session.flush()


def set_order_status(session: Session, order_id: str, status: str) -> None:
    row = session.get(t.Order, order_id)
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    row.status = status


def order(session: Session, order_id: str) -> OrderRecord:
    found = (
        session.execute(
            select(t.Order, t.Relationship)
            .join(t.Relationship, t.Order.relationship_id == t.Relationship.id)
            .where(t.Order.id == order_id)
        )
    ).first()
    if found is None:
        raise NotFound(f"no order {order_id!r}")
    row, rel = found
    return OrderRecord(row.id, rel.buyer_id, rel.seller_id, row.status)


def _by_alias(session: Session, alias: str) -> tuple[t.Relationship, bool] | None:
    """The relationship an alias belongs to, and whether it is the buyer alias."""
    row = session.scalar(
        select(t.Relationship).where(
            (t.Relationship.buyer_alias == alias) | (t.Relationship.seller_alias == alias)
        )
    )
    if row is None:
        return None
    return row, row.buyer_alias == alias


def lookup(session: Session, alias: str) -> AliasInfo:
    found = _by_alias(session, alias)
    if found is None:
        raise NotFound(f"no alias {alias}")
    row, is_buyer_alias = found
    orders = session.scalars(
        select(t.Order.id).where(t.Order.relationship_id == row.id).order_by(t.Order.created_at)
    )
    return AliasInfo(
        kind="buyer" if is_buyer_alias else "seller",
        buyer=row.buyer_id,
        seller=row.seller_id,
        orders=tuple(orders),
    )
