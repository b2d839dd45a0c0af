"""Accepted messages: the 250 boundary, and the Message-ID map that keeps threads intact."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, func, insert, or_, select
from sqlalchemy.orm import Session

from relay.model import Accepted, Direction, MessageStatus, Refusal, ThreadLink
from relay.store import archive
from relay.store import tables as t
from relay.store.archive import NewRecord
from relay.store.tables import utcnow

_QUEUED = insert(t.QUEUE)
# The case the pipeline chose, unless it was closed since: a closed case takes no more
# messages, so such a message joins none. FOR SHARE (PostgreSQL; SQLite has one writer):
# a close in flight makes this wait and then see the case closed, and a close that comes
# later waits for this commit. Every message of a closed case was committed before it.
_STILL_OPEN = (
    select(t.CASES.c.id)
    .where(t.CASES.c.id == bindparam("case_ref"), t.CASES.c.state != "closed")
    .with_for_update(read=True)
    .scalar_subquery()
)
# A reply joins its parent's thread; any other message starts one of its own.
_PARENT = t.MESSAGES.alias("parent")
_THREAD = func.coalesce(
    select(_PARENT.c.thread_id).where(_PARENT.c.id == bindparam("parent_ref")).scalar_subquery(),
    bindparam("thread_self"),
)
_MESSAGE = insert(t.MESSAGES).values(case_id=_STILL_OPEN, thread_id=_THREAD)


def accept(connection: Connection, batch: list[Accepted]) -> None:
    """Record the messages, queue their delivery and chain both forms (no commit).

    Core inserts, one executemany per table: group commit hands over many
    messages at once, and the ORM's unit of work would cost more than the rows.
    """
    now = utcnow()
    connection.execute(_MESSAGE, [
        {
            "id": a.message_id,
            "relationship_id": a.route.relationship_id,
            "direction": a.route.kind,
            "subject": a.subject,
            "original_message_id": a.original_message_id,
            "relay_message_id": a.relay_message_id,
            "parent_id": a.parent_id,
            "parent_ref": a.parent_id,
            "thread_self": a.message_id,
            "case_ref": a.case_id,
            "envelope_sender": a.envelope_sender,
            "recipient": a.route.recipient,
            "status": _status(a),
            "contact_reason": a.contact_reason,
            "order_id": a.order_id,
            "received_at": now,
        }
        for a in batch
    ])
    # Hashed before the chain's head is taken: its lock lasts as short as it can.
    records = []
    for a in batch:
        records.append(NewRecord.of(a.message_id, "received", a.received, now))
        if a.deliver:
            records.append(NewRecord.of(a.message_id, "delivered", a.delivered, now))
    queued = [
        {"message_id": a.message_id, "envelope_from": a.envelope_from,
         "recipient": a.route.recipient, "attempts": 0, "next_attempt_at": now,
         "created_at": now}
        for a in batch if a.deliver
    ]
    if queued:
        connection.execute(_QUEUED, queued)
    archive.append(connection, records)  # last: it holds the chain's head until the commit


def refuse(connection: Connection, refusal: Refusal) -> None:
    """Log a refused message: who wrote to whom, the reply and the rule, nothing of its content.

    No thread, no relay Message-ID, no original Message-ID: nothing can name it
    as a parent, so threads, answers and cases never see it (no commit here).
    """
    route = refusal.route
    connection.execute(insert(t.MESSAGES), {
        "id": refusal.message_id,
        "relationship_id": route.relationship_id,
        "direction": route.kind,
        "envelope_sender": refusal.envelope_sender,
        "recipient": route.recipient,
        "status": "refused",
        "reply_code": refusal.reply.code,
        "reply_enhanced": refusal.reply.enhanced,
        "reply_text": refusal.reply.text,
        "rule": refusal.rule,
        "order_id": refusal.order_id,
        "received_at": utcnow(),
    })


def thread_links(
    session: Session, relationship_id: int, direction: Direction, ids: list[str]
) -> dict[str, ThreadLink]:
    """Translate Message-IDs a reply names into the IDs its recipient's client knows.

    A relay-issued ID of a message the recipient sent becomes that message's
    original ID; an original ID of a message the sender sent becomes the
    relay-issued ID the recipient saw. IDs the store does not know are dropped:
    they come from outside the relationship and may name a real host.
    """
    if not ids:
        return {}
    rows = (
        session.scalars(
            select(t.Message).where(
                t.Message.relationship_id == relationship_id,
                or_(t.Message.relay_message_id.in_(ids), t.Message.original_message_id.in_(ids)),
            )
        )
    ).all()
    links: dict[str, ThreadLink] = {}
    for wanted in ids:
        for row in rows:
            if row.relay_message_id == wanted:
                own = row.direction != direction  # the recipient wrote it
                translated = row.original_message_id if own and row.original_message_id else wanted
                links[wanted] = ThreadLink(translated, row.id, row.order_id)
                break
            if (row.original_message_id == wanted and row.direction == direction
                    and row.relay_message_id is not None):
                links[wanted] = ThreadLink(row.relay_message_id, row.id, row.order_id)
                break
    return links


def archived(session: Session, message_id: str) -> dict[str, bytes]:
    """The archived forms of one message by name ("received", "delivered")."""
    rows = session.execute(
        select(t.ArchivedForm.form, t.ArchivedForm.data).where(
            t.ArchivedForm.message_id == message_id
        )
    )
    return {form: data for form, data in rows}


def _status(accepted: Accepted) -> MessageStatus:
    return "queued" if accepted.deliver else "consumed"
