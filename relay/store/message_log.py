"""The message log: listing messages, whether each still needs a response, response times.

A buyer message needs a response until a seller message of its thread arrives
at or after it (one reply answers every earlier buyer message of the thread), or
until it is marked no-response-needed. Mail kept without delivery (consumed) or
refused neither needs nor gives an answer. Everything is counted in SQL.
Functions here take the caller's session or connection and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, and_, case, exists, false, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import DateTime

from relay.errors import NotFound
from relay.model import ArchivedMessage, MessageRecord, RefusalReply, ResponseTime
from relay.store import messages
from relay.store import tables as t

_M, _R = t.MESSAGES.c, t.RELATIONSHIPS.c
_REPLY = t.MESSAGES.alias("reply")
_PARTIES = ("buyer-to-seller", "seller-to-buyer")
_SILENT = ("consumed", "refused")
DAY = timedelta(hours=24)


class _day_later(FunctionElement[datetime]):
    """The instant 24 hours after a stored time, exact to the microsecond on each backend."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(_day_later)
def _day_later_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} + INTERVAL '24 hours')"


@compiles(_day_later, "sqlite")
def _day_later_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" (UTC): move the seconds part by a day
    # and keep the microseconds, which SQLite's date functions would round.
    value = compiler.process(element.clauses, **kw)
    return f"(datetime({value}, '+1 day') || substr({value}, 20))"


def _first_answer() -> Any:
    """When the seller first wrote in the message's thread at or after it (None: not yet)."""
    r = _REPLY.c
    return (
        select(func.min(r.received_at))
        .where(r.thread_id == _M.thread_id, r.direction == "seller-to-buyer",
               r.status.notin_(_SILENT), r.received_at >= _M.received_at)
        .scalar_subquery()
    )


def _needs_one() -> ColumnElement[bool]:
    """A buyer message that asks for an answer at all (answered or not)."""
    return and_(_M.direction == "buyer-to-seller", _M.status.notin_(_SILENT),
                _M.no_response_needed == false())


def _awaiting() -> ColumnElement[bool]:
    r = _REPLY.c
    answered = exists().where(
        r.thread_id == _M.thread_id, r.direction == "seller-to-buyer",
        r.status.notin_(_SILENT), r.received_at >= _M.received_at)
    return and_(_needs_one(), ~answered)


def records(
    session: Session, *, buyer: str | None, seller: str | None, case_id: int | None,
    everything: bool, limit: int, before: str | None, reported: bool = False,
) -> list[MessageRecord]:
    """Newest first (received_at, then id), `limit` of them after `before` (keyset).

    `reported`: only messages reported at least once, whether or not they await
    a response (the awaiting filter is the seller's view, not support's).
    """
    for table, wanted, what in ((t.Buyer, buyer, "buyer"), (t.Seller, seller, "seller"),
                                (t.Case, case_id, "case")):
        if wanted is not None and session.get(table, wanted) is None:
            raise NotFound(f"no {what} {str(wanted)!r}")
    awaiting = _awaiting()
    query = (
        select(_M.id, _M.direction, _R.buyer_id, _R.seller_id, _M.order_id, _M.case_id,
               _M.subject, _M.received_at, _M.status,
               case((awaiting, True), else_=False))
        .join(t.RELATIONSHIPS, _R.id == _M.relationship_id)
        .where(_M.direction.in_(_PARTIES))
        .order_by(_M.received_at.desc(), _M.id.desc())
        .limit(limit)
    )
    if reported:
        query = query.where(_M.id.in_(select(t.REPORTS.c.message_id)))
    elif not everything:
        query = query.where(awaiting)
    for column, value in ((_R.buyer_id, buyer), (_R.seller_id, seller), (_M.case_id, case_id)):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        mark = session.execute(
            select(_M.received_at, _M.id).where(_M.id == before)).first()
        if mark is None:
            raise NotFound(f"no message {before!r}")
        # The first bound alone is what an index range can use: without it a deep page
        # walks every newer message of the index to find where the page starts.
        query = query.where(_M.received_at <= mark[0],
                            or_(_M.received_at < mark[0],
                                and_(_M.received_at == mark[0], _M.id < mark[1])))
    return [_record(row) for row in session.execute(query)]


def _record(row: Any) -> MessageRecord:
    (message_id, direction, buyer, seller, order, case_id, subject, received, status,
     needed) = row
    return MessageRecord(message_id, direction, buyer, seller, order,
                         None if case_id is None else str(case_id), subject, received,
                         status, bool(needed))


def mark_no_response_needed(session: Session, message_id: str) -> MessageRecord | None:
    """Mark a buyer message (a seller's is left as is); None: no message between the parties."""
    row = session.get(t.Message, message_id)
    if row is None or row.direction not in _PARTIES:
        return None
    if row.direction == "buyer-to-seller":
        row.no_response_needed = True
        session.flush()
    found = _one(session, message_id)
    return found[0] if found else None


def _one(session: Session, message_id: str) -> list[MessageRecord]:
    query = (
        select(_M.id, _M.direction, _R.buyer_id, _R.seller_id, _M.order_id, _M.case_id,
               _M.subject, _M.received_at, _M.status, case((_awaiting(), True), else_=False))
        .join(t.RELATIONSHIPS, _R.id == _M.relationship_id)
        .where(_M.id == message_id)
    )
    return [_record(row) for row in session.execute(query)]


def response_time(session: Session, seller: str, days: int, now: datetime) -> ResponseTime:
    """SPEC §6's figures for one seller, counted by the database in one query.

    Over the buyer messages of the last `days` days that needed a response:
    `messages` are those answered or at least 24 h old, `answered_within_24h`
    those answered at most 24 h after they arrived (24 h 0 s is within),
    `pending` the unanswered ones younger than 24 h.
    """
    if session.get(t.Seller, seller) is None:
        raise NotFound(f"no seller {seller!r}")
    answer = _first_answer()
    answered = answer.is_not(None)
    young = _M.received_at > now - DAY
    counted = or_(answered, ~young)
    row = session.execute(
        select(
            func.count().filter(counted),
            func.count().filter(and_(answered, answer <= _day_later(_M.received_at))),
            func.count().filter(and_(~answered, young)),
        )
        .select_from(t.MESSAGES)
        .join(t.RELATIONSHIPS, _R.id == _M.relationship_id)
        .where(_R.seller_id == seller, _needs_one(),
               _M.received_at >= now - timedelta(days=days), _M.received_at <= now)
    ).one()
    messages, within, pending = (int(cast(int, value or 0)) for value in row)
    return ResponseTime(seller, days, messages, within, pending,
                        None if messages == 0 else within / messages)


def archived_message(session: Session, message_id: str) -> ArchivedMessage | None:
    """The record, both archived forms and the parties' real addresses (to hide them)."""
    found = _one(session, message_id)
    if not found:
        return None
    row = session.get(t.Message, message_id)
    assert row is not None
    assert row.relationship_id is not None
    pair = party_addresses(session, row.relationship_id)
    sender_alias, recipient_alias = pair.aliases(row.direction)
    hidden = pair.hidden(row.direction, row.envelope_sender, row.recipient)
    forms = messages.archived(session, message_id)
    reply = None if row.reply_code is None else RefusalReply(
        row.reply_code, row.reply_enhanced or "", row.reply_text or "")
    return ArchivedMessage(found[0], sender_alias, recipient_alias, forms.get("received", b""),
                           forms.get("delivered"), hidden, reply, row.rule)


@dataclass(frozen=True)
class Pair:
    """A relationship's two aliases and every real address of either party, mapped to its alias.

    One place decides what a view of the pair's mail hides: `message show` and
    `archive export` both take their map from `hidden`.
    """

    buyer_alias: str
    seller_alias: str
    addresses: dict[str, str]

    def aliases(self, direction: str) -> tuple[str, str]:
        """The sender's and the recipient's alias of a message going `direction`."""
        if direction == "buyer-to-seller":
            return self.buyer_alias, self.seller_alias
        return self.seller_alias, self.buyer_alias

    def hidden(self, direction: str, envelope_sender: str, recipient: str) -> dict[str, str]:
        """The map for one message: the pair's addresses and the two it was exchanged between."""
        sender_alias, recipient_alias = self.aliases(direction)
        return {**self.addresses, envelope_sender: sender_alias, recipient: recipient_alias}


def party_addresses(session: Session | Connection, relationship_id: int) -> Pair:
    """The pair's aliases and real addresses: the buyer's, the seller's and each it sends from."""
    _B, _S, _A = t.BUYERS.c, t.SELLERS.c, t.SELLER_ADDRESSES.c
    buyer_alias, seller_alias, buyer_email, seller_id, seller_email = session.execute(
        select(_R.buyer_alias, _R.seller_alias, _B.email, _S.id, _S.email)
        .join(t.BUYERS, _B.id == _R.buyer_id).join(t.SELLERS, _S.id == _R.seller_id)
        .where(_R.id == relationship_id)).one()
    addresses = {buyer_email: buyer_alias, seller_email: seller_alias}
    for address in session.scalars(select(_A.address).where(_A.seller_id == seller_id)):
        addresses[address] = seller_alias
    return Pair(buyer_alias, seller_alias, addresses)
