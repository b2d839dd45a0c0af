"""One dispute's messages in the order they arrived, a page at a time, for `archive export`.

A dispute is a relationship's mail, or one case's. Pages follow the keyset
(received_at, id) on the index `ix_messages_relationship_time`, and a page's
bodies stay under a byte budget: an export holds one page, whatever the store's size.
Functions here take the caller's connection and never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from relay.errors import NotFound
from relay.model import Dispute, DisputeMessage
from relay.store import tables as t
from relay.store.message_log import party_addresses

_M, _R, _A = t.MESSAGES.c, t.RELATIONSHIPS.c, t.ARCHIVE.c
_PARTIES = ("buyer-to-seller", "seller-to-buyer")


def dispute(connection: Connection, buyer: str, seller: str, case_id: int | None) -> Dispute:
    """The relationship (and case) to export and how many messages it holds.

    Unknown buyer, seller or case, no relationship between the two, or a case
    of another pair: NotFound.
    """
    for table, wanted, what in ((t.BUYERS, buyer, "buyer"), (t.SELLERS, seller, "seller")):
        if connection.execute(select(table.c.id).where(table.c.id == wanted)).first() is None:
            raise NotFound(f"no {what} {wanted!r}")
    relationship_id = connection.execute(
        select(_R.id).where(_R.buyer_id == buyer, _R.seller_id == seller)).scalar()
    if relationship_id is None:
        raise NotFound(f"buyer {buyer!r} and seller {seller!r} have exchanged no mail")
    if case_id is not None:
        case_of = connection.execute(
            select(t.CASES.c.relationship_id).where(t.CASES.c.id == case_id)).first()
        if case_of is None:
            raise NotFound(f"no case {str(case_id)!r}")
        if case_of[0] != relationship_id:
            raise NotFound(f"case {case_id} is not between buyer {buyer!r} "
                           f"and seller {seller!r}")
    delivered = _delivered()
    exported, withheld = connection.execute(
        select(func.count().filter(delivered), func.count().filter(_M.status == "consumed"))
        .select_from(t.MESSAGES).where(*_scope(relationship_id, case_id))).one()
    return Dispute(relationship_id, case_id, int(exported or 0), int(withheld or 0))


def page(
    connection: Connection, relationship_id: int, case_id: int | None,
    after: tuple[datetime, str] | None, limit: int, budget: int,
) -> list[DisputeMessage]:
    """The next messages with a delivered form after `after`, oldest first.

    At most `limit` of them and, past the first, no more than `budget` bytes of
    bodies: the sizes are read first, the bodies only of the messages kept.
    """
    query = (
        select(_M.id, _M.direction, _M.received_at, _M.envelope_sender, _M.recipient,
               func.length(_A.data))
        .join(t.ARCHIVE, and_(_A.message_id == _M.id, _A.form == "delivered"))
        .where(*_scope(relationship_id, case_id))
        .order_by(_M.received_at, _M.id)
        .limit(limit)
    )
    if after is not None:
        at, last = after
        # `received_at >= at` bounds the index range; the OR alone is only a filter, and
        # each page would read the pair's index from its first message again.
        query = query.where(_M.received_at >= at,
                            or_(_M.received_at > at, and_(_M.received_at == at, _M.id > last)))
    rows: list[Any] = []
    size = 0
    for row in connection.execute(query).all():
        size += int(row[5] or 0)
        if rows and size > budget:
            break
        rows.append(row)
    if not rows:
        return []
    bodies = dict(connection.execute(
        select(_A.message_id, _A.data)
        .where(_A.message_id.in_([row[0] for row in rows]), _A.form == "delivered")).all())
    pair = party_addresses(connection, relationship_id)
    return [
        DisputeMessage(message_id, direction, received_at, pair.aliases(direction)[0],
                       bodies[message_id], pair.hidden(direction, sender, recipient))
        for message_id, direction, received_at, sender, recipient, _ in rows
        if message_id in bodies  # purged between the two reads (PostgreSQL reads unwrapped)
    ]


def _delivered() -> Any:
    return select(_A.id).where(_A.message_id == _M.id, _A.form == "delivered").exists()


def _scope(relationship_id: int, case_id: int | None) -> list[Any]:
    where: list[Any] = [_M.relationship_id == relationship_id, _M.direction.in_(_PARTIES)]
    if case_id is not None:
        where.append(_M.case_id == case_id)
    return where
