"""What the seller-to-buyer rules read of a relationship: opt-out, orders, the buyer's threads."""

from __future__ import annotations

from sqlalchemy import Connection, Select, bindparam, literal, select

from relay.model import PairPolicy
from relay.store import tables as t

_R, _M = t.RELATIONSHIPS, t.MESSAGES
# How far up a thread the walk goes: deeper threads are not conversations but loops.
MAX_THREAD_DEPTH = 100

_PAIR = (
    select(t.BUYERS.c.opted_out, t.ORDERS.c.id, t.ORDERS.c.status)
    .select_from(
        _R.join(t.BUYERS, t.BUYERS.c.id == _R.c.buyer_id)
        .outerjoin(t.ORDERS, t.ORDERS.c.relationship_id == _R.c.id)
    )
    .where(_R.c.id == bindparam("relationship_id"))
)


def _buyer_wrote_in() -> Select[int]:
    """The named messages and every message they answer, up the parent chain, in one query.

    Only relay-issued IDs start the walk: the seller's client knows those only
    from mail the buyer sent through the relay in this relationship.
    """
    named = (
        select(_M.c.id, _M.c.parent_id, _M.c.direction, _M.c.status,
               literal(0).label("depth"))
        .where(_M.c.relationship_id == bindparam("relationship_id"),
               _M.c.relay_message_id.in_(bindparam("ids", expanding=True)))
        .cte("chain", recursive=True)
    )
    parent = _M.alias("parent")
    chain = named.union_all(
        select(parent.c.id, parent.c.parent_id, parent.c.direction, parent.c.status,
               named.c.depth + 1)
        .where(parent.c.id == named.c.parent_id,
               parent.c.relationship_id == bindparam("relationship_id"),
               named.c.depth < MAX_THREAD_DEPTH)
    )
    # A buyer's automatic reply (consumed, never passed on) is no sign the buyer wrote.
    return (
        select(literal(1))
        .select_from(chain)
        .where(chain.c.direction == "buyer-to-seller", chain.c.status != "consumed")
        .limit(1)
    )


_WROTE_IN = _buyer_wrote_in()


def pair_policy(connection: Connection, relationship_id: int) -> PairPolicy:
    """The buyer's opt-out and the pair's orders (ids and statuses), in one query."""
    rows = connection.execute(_PAIR, {"relationship_id": relationship_id}).all()
    opted_out = bool(rows[0].opted_out) if rows else False
    orders = [row for row in rows if row.id is not None]
    return PairPolicy(opted_out, tuple(row.status for row in orders),
                      tuple(row.id for row in orders))


def buyer_wrote_in(connection: Connection, relationship_id: int, relay_ids: list[str]) -> bool:
    """Whether a relay-issued ID among `relay_ids` names a thread of this pair the buyer
    started or wrote in: the named message, or one it answers, is from the buyer."""
    if not relay_ids:
        return False
    found = connection.execute(
        _WROTE_IN, {"relationship_id": relationship_id, "ids": relay_ids}
    ).first()
    return found is not None
