"""The daily quota's counters: one row per seller and UTC day, raised only below the limit."""

from __future__ import annotations

import math
from datetime import date, datetime

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from relay.model import QuotaDecision, QuotaRule
from relay.store import tables as t

_Q = t.QUOTA_USAGE
# SPEC §2.2: orders per day is the average over the last 30 days, rounded up.
WINDOW_DAYS = 30


def orders_per_day(connection: Connection, seller_id: str, since: datetime) -> int:
    """The seller's explicit setting, else their orders since `since` / 30, rounded up.

    Cancelled orders do not count: they are not trade the seller has to answer for.
    """
    recent = (
        select(func.count())
        .select_from(t.ORDERS.join(t.RELATIONSHIPS,
                                   t.RELATIONSHIPS.c.id == t.ORDERS.c.relationship_id))
        .where(t.RELATIONSHIPS.c.seller_id == t.SELLERS.c.id,
               t.ORDERS.c.created_at >= since, t.ORDERS.c.status != "cancelled")
        .scalar_subquery()
    )
    row = connection.execute(
        select(t.SELLERS.c.orders_per_day, recent).where(t.SELLERS.c.id == seller_id)
    ).first()
    if row is None:
        return 0
    explicit, count = row
    return int(explicit) if explicit is not None else math.ceil(count / WINDOW_DAYS)


def reserve(connection: Connection, seller_id: str, day: date, rule: QuotaRule,
            since: datetime) -> QuotaDecision:
    """Count one message against the seller's `day`, unless that would pass the limit.

    One statement checks and counts (insert the day's row, or raise it while
    below the limit), so no two sessions or processes can both take the last one:
    PostgreSQL re-checks the condition on the row it locked, SQLite has one writer.
    """
    limit = rule.limit(orders_per_day(connection, seller_id, since))
    if limit <= 0:
        return QuotaDecision(limit, granted=False)
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_Q)
        .values(seller_id=seller_id, day=day, used=1)
        .on_conflict_do_update(
            index_elements=[_Q.c.seller_id, _Q.c.day],
            set_={"used": _Q.c.used + 1},
            where=_Q.c.used < limit,
        )
        .returning(_Q.c.used)
    )
    return QuotaDecision(limit, granted=connection.execute(statement).first() is not None)


def release(connection: Connection, seller_id: str, day: date) -> None:
    """Give back one reserved message of `day` (its message was not queued after all)."""
    connection.execute(
        update(_Q)
        .where(and_(_Q.c.seller_id == seller_id, _Q.c.day == day, _Q.c.used > 0))
        .values(used=_Q.c.used - 1)
    )


def used(connection: Connection, seller_id: str, day: date) -> int:
    """How many messages the seller has used of `day`'s quota."""
    value = connection.execute(
        select(_Q.c.used).where(_Q.c.seller_id == seller_id, _Q.c.day == day)
    ).scalar()
    return int(value or 0)
