"""Resolving aliases to routes at RCPT: several sessions' aliases in one query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select

from relay.model import Route
from relay.store import tables as t

_R = t.RELATIONSHIPS
# One row per address of the seller: a second query would cost a round trip.
_ROUTES = (
    select(
        _R.c.id, _R.c.buyer_id, _R.c.seller_id, _R.c.buyer_alias, _R.c.seller_alias,
        t.BUYERS.c.email.label("buyer_email"), t.BUYERS.c.name.label("buyer_name"),
        t.SELLERS.c.email.label("seller_email"), t.SELLERS.c.name.label("seller_name"),
        t.SELLER_ADDRESSES.c.address,
    )
    .join(t.BUYERS, t.BUYERS.c.id == _R.c.buyer_id)
    .join(t.SELLERS, t.SELLERS.c.id == _R.c.seller_id)
    .outerjoin(t.SELLER_ADDRESSES, t.SELLER_ADDRESSES.c.seller_id == t.SELLERS.c.id)
    .where(or_(_R.c.buyer_alias.in_(bindparam("aliases", expanding=True)),
               _R.c.seller_alias.in_(bindparam("aliases", expanding=True))))
    .order_by(_R.c.id, t.SELLER_ADDRESSES.c.address)
)


def routes(connection: Connection, aliases: list[str]) -> dict[str, Route]:
    """Each alias's recipient and authorised senders; unknown aliases are left out.

    This runs at every RCPT: one joined query, built once, in Core.
    """
    wanted = set(aliases)
    by_pair: dict[int, list[Any]] = {}
    for row in connection.execute(_ROUTES, {"aliases": sorted(wanted)}):
        by_pair.setdefault(row.id, []).append(row)
    found: dict[str, Route] = {}
    for rows in by_pair.values():
        for alias in (rows[0].buyer_alias, rows[0].seller_alias):
            if alias in wanted:  # both of a pair's aliases may be asked at once
                found[alias] = _route(alias, rows)
    return found


def _route(alias: str, rows: Sequence[Any]) -> Route:
    pair = rows[0]
    if alias == pair.buyer_alias:  # the seller writes to the buyer
        return Route(
            alias=alias,
            kind="seller-to-buyer",
            relationship_id=pair.id,
            buyer_id=pair.buyer_id,
            seller_id=pair.seller_id,
            recipient=pair.buyer_email,
            sender_addresses=tuple(row.address for row in rows if row.address is not None),
            sender_name=pair.seller_name,
            sender_alias=pair.seller_alias,
        )
    return Route(
        alias=alias,
        kind="buyer-to-seller",
        relationship_id=pair.id,
        buyer_id=pair.buyer_id,
        seller_id=pair.seller_id,
        recipient=pair.seller_email,
        sender_addresses=(pair.buyer_email,),
        sender_name=pair.buyer_name or "Buyer",
        sender_alias=pair.buyer_alias,
    )
