"""Cases: opening one, moving its state, listing them with their message counts.

Functions here take the caller's session or connection and never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from relay.errors import Conflict, Invalid, NotFound
from relay.model import CasePlace, CaseRecord, CaseRef, CaseState
from relay.store import tables as t

# The moves SPEC §6 allows; closed is final.
MOVES: dict[CaseState, tuple[CaseState, ...]] = {
    "open": ("resolved",),
    "resolved": ("closed", "open"),
    "closed": (),
}


def open_case(
    session: Session, relationship: Callable[[], t.Relationship], order_id: str | None,
    subject: str | None, now: datetime,
) -> int:
    """A new open case of the pair; Conflict while another of theirs is not closed.

    The check here words the common refusal; the partial unique index is what
    holds when two openings race (the store words that one too).
    """
    rel = relationship()
    if order_id is not None:
        order = session.get(t.Order, order_id)
        if order is None:
            raise NotFound(f"no order {order_id!r}")
        if order.relationship_id != rel.id:
            raise Invalid(f"order {order_id} is not between buyer {rel.buyer_id} "
                          f"and seller {rel.seller_id}")
    existing = current(session, rel.id)
    if existing is not None:
        raise already_open(rel.buyer_id, rel.seller_id, existing)
    row = t.Case(relationship_id=rel.id, order_id=order_id, subject=subject, state="open",
                 opened_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row.id


def current(session: Session, relationship_id: int) -> CaseRef | None:
    """The relationship's case that is not closed, if any."""
    row = session.execute(
        select(t.Case.id, t.Case.state).where(
            t.Case.relationship_id == relationship_id, t.Case.state != "closed"
        )
    ).first()
    return None if row is None else CaseRef(row[0], cast(CaseState, row[1]))


def already_open(buyer: str, seller: str, case: CaseRef) -> Conflict:
    return Conflict(f"buyer {buyer} and seller {seller} already have case {case.id} "
                    f"({case.state}); close it before opening another")


def move(session: Session, case_id: int, to: CaseState, now: datetime) -> None:
    """Move a case to state `to`; a move SPEC §6 does not allow is a Conflict."""
    row = session.get(t.Case, case_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no case {str(case_id)!r}")
    state = cast(CaseState, row.state)
    if to not in MOVES[state]:
        raise Conflict(_refusal(case_id, state, to))
    row.state, row.updated_at = to, now


def _refusal(case_id: int, state: CaseState, to: CaseState) -> str:
    if state == to:
        return f"case {case_id} is already {state}"
    if state == "closed":
        return f"case {case_id} is closed, and a closed case stays closed; open a new one"
    if to == "closed":
        return f"case {case_id} is open; resolve it before closing it"
    return f"case {case_id} cannot go from {state} to {to}"


def records(
    session: Session, *, case_id: int | None = None, buyer: str | None = None,
    seller: str | None = None, state: CaseState | None = None,
) -> list[CaseRecord]:
    """Cases with their counts and last activity, newest first, in one query.

    Counted per case listed, through the messages' index on case_id: a list for
    one buyer costs that buyer's messages, not the archive's.
    """
    c, r, m = t.CASES.c, t.RELATIONSHIPS.c, t.MESSAGES.c
    of_case = m.case_id == c.id
    query = (
        select(c.id, c.state, r.buyer_id, r.seller_id, c.order_id, c.subject,
               select(func.count()).where(of_case).scalar_subquery(),
               select(func.max(m.received_at)).where(of_case).scalar_subquery(),
               c.updated_at, c.opened_at)
        .join(t.RELATIONSHIPS, r.id == c.relationship_id)
        .order_by(c.id.desc())
    )
    for column, wanted in ((c.id, case_id), (r.buyer_id, buyer), (r.seller_id, seller),
                           (c.state, state)):
        if wanted is not None:
            query = query.where(column == wanted)
    return [_record(row) for row in session.execute(query)]


def _record(row: Any) -> CaseRecord:
    (case_id, state, buyer, seller, order, subject, messages, last_message, updated,
     opened) = row
    last = updated if last_message is None else max(updated, last_message)
    return CaseRecord(str(case_id), state, buyer, seller, order, subject, int(messages),
                      last, opened)


_C, _M = t.CASES.c, t.MESSAGES.c
# The cases a batch of messages may join: each relationship's case that is not closed,
# and the case of each parent named (with the parent, to tell them apart), in one read.
_PLACES = (
    select(_C.id, _C.state, _C.relationship_id, _M.id.label("parent"))
    .outerjoin(t.MESSAGES, and_(_M.case_id == _C.id,
                                _M.id.in_(bindparam("parents", expanding=True))))
    .where(or_(
        and_(_C.relationship_id.in_(bindparam("relationships", expanding=True)),
             _C.state != "closed"),
        _C.id.in_(select(_M.case_id).where(_M.id.in_(bindparam("parents", expanding=True)))),
    ))
)

Place = tuple[int, str | None]  # a relationship, and the parent a message replies to


def places(connection: Connection, wanted: list[Place]) -> dict[Place, CasePlace]:
    """For each (relationship, parent): the parent's case and the relationship's current one.

    Several sessions' messages share this one query (relay.store.lookups).
    """
    relationships = sorted({relationship for relationship, _ in wanted})
    parents = sorted({parent for _, parent in wanted if parent is not None})
    current: dict[int, CaseRef] = {}
    of_parent: dict[str, CaseRef] = {}
    for case_id, state, relationship, parent in connection.execute(
        _PLACES, {"relationships": relationships, "parents": parents}
    ):
        ref = CaseRef(case_id, state)
        if state != "closed":
            current[relationship] = ref
        if parent is not None:
            of_parent[parent] = ref
    return {
        (relationship, parent): CasePlace(
            None if parent is None else of_parent.get(parent), current.get(relationship))
        for relationship, parent in wanted
    }
