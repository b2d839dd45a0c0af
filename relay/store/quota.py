"""The daily quota's counters: one row per seller and UTC day, raised only below the limit.

The row also keeps the seller's average orders per day, counted once, at the
day's first message: a large seller's orders of 30 days are then not counted
again for every message they send. The seller's own setting and the limit's
two terms are read afresh each time, so changing them applies at once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, Integer, and_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from relay.model import QuotaDecision, QuotaRule
from relay.store import tables as t

_Q = t.QUOTA_USAGE
# SPEC §2.2: orders per day is the average over the last 30 days, rounded up.
WINDOW_DAYS = 30

_EXPLICIT = (select(t.SELLERS.c.orders_per_day)
             .where(t.SELLERS.c.id == bindparam("seller")).scalar_subquery())
_ROW = and_(_Q.c.seller_id == bindparam("seller"), _Q.c.day == bindparam("on_day"))


def _limit() -> ColumnElement[int]:
    """The limit in SQL: the seller's setting, else the day's average, * per order + base."""
    per_day = func.coalesce(_EXPLICIT, _Q.c.recent_orders)
    return per_day * bindparam("per_order", type_=Integer) + bindparam("base", type_=Integer)


# The hot path, one statement: the check and the count cannot be split by another
# session or process (PostgreSQL re-checks the condition on the row it locked;
# SQLite has one writer). NULL (a day whose average is not counted yet) never passes.
_TAKE = (update(_Q).where(_ROW, _Q.c.used < _limit()).values(used=_Q.c.used + 1)
         .returning(_limit()))
_STATE = select(_Q.c.used, _Q.c.recent_orders, _EXPLICIT.label("explicit")).where(_ROW)
_COUNTED = update(_Q).where(_ROW, _Q.c.recent_orders.is_(None))


def recent_orders(connection: Connection, seller_id: str, since: datetime) -> int:
    """The seller's orders since `since` / 30, rounded up; cancelled orders do not count."""
    count = connection.execute(
        select(func.count())
        .select_from(t.ORDERS.join(t.RELATIONSHIPS,
                                   t.RELATIONSHIPS.c.id == t.ORDERS.c.relationship_id))
        .where(t.RELATIONSHIPS.c.seller_id == seller_id,
               t.ORDERS.c.created_at >= since, t.ORDERS.c.status != "cancelled")
    ).scalar_one()
    return -(-int(count) // WINDOW_DAYS)


def reserve(connection: Connection, seller_id: str, day: date, rule: QuotaRule,
            since: datetime) -> QuotaDecision:
    """Count one message against the seller's `day`, unless that would pass the limit."""
    key = {"seller": seller_id, "on_day": day}
    params = {**key, "per_order": rule.per_order, "base": rule.base}
    # A row another session is making may be invisible to the update and visible a
    # statement later (PostgreSQL reads what is committed at each statement): then
    # the update is tried again, and only a count at the limit refuses.
    for _ in range(5):
        taken = connection.execute(_TAKE, params).first()
        if taken is not None:
            return QuotaDecision(int(taken[0]), granted=True)
        state = connection.execute(_STATE, key).first()
        if state is None:
            _start_day(connection, seller_id, day, recent_orders(connection, seller_id, since))
        elif state.recent_orders is None:  # a row from before its average was kept
            recent = recent_orders(connection, seller_id, since)
            connection.execute(_COUNTED.values(recent_orders=recent), key)
        else:
            per_day = state.explicit if state.explicit is not None else state.recent_orders
            limit = rule.limit(per_day)
            if state.used >= limit:
                return QuotaDecision(limit, granted=False)
    raise RuntimeError("the quota row of this seller and day keeps changing")


def _start_day(connection: Connection, seller_id: str, day: date, recent: int) -> None:
    """The day's row with nothing used yet; a row another session made first stays."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        dialect.insert(_Q)
        .values(seller_id=seller_id, day=day, used=0, recent_orders=recent)
        .on_conflict_do_nothing(index_elements=[_Q.c.seller_id, _Q.c.day])
    )


def release(connection: Connection, seller_id: str, day: date) -> None:
    """Give back one reserved message of `day` (its message was not queued after all)."""
    connection.execute(
        update(_Q).where(_ROW, _Q.c.used > 0).values(used=_Q.c.used - 1),
        {"seller": seller_id, "on_day": day},
    )


def used(connection: Connection, seller_id: str, day: date) -> int:
    """How many messages the seller has used of `day`'s quota."""
    value = connection.execute(select(_Q.c.used).where(_ROW),
                               {"seller": seller_id, "on_day": day}).scalar()
    return int(value or 0)
