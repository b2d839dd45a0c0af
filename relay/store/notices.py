"""What delivery status notices need from the store, and queueing them."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from relay.addresses import relay_message_id
from relay.model import BounceContext, MessageKind, QueuedNotice
from relay.store import archive
from relay.store import tables as t
from relay.store.archive import NewRecord
from relay.store.tables import utcnow


def bounce_context(
    session: Session, message_id: str, domain: str
) -> BounceContext | None:
    message = session.get(t.Message, message_id)
    if message is None:
        return None
    received = session.scalar(
        select(t.ArchivedForm.data).where(
            t.ArchivedForm.message_id == message_id, t.ArchivedForm.form == "received"
        )
    )
    head = (received or b"").partition(b"\r\n\r\n")[0] + b"\r\n"
    alias = f"postmaster@{domain}"  # mail to postmaster@/abuse@ has no alias of its own
    if message.relationship_id is not None:
        rel = session.get(t.Relationship, message.relationship_id)
        if rel is not None:
            alias = rel.buyer_alias if message.direction == "seller-to-buyer" else rel.seller_alias
    kind: MessageKind = message.direction  # type: ignore[assignment]
    return BounceContext(
        message_id=message.id,
        kind=kind,
        envelope_sender=message.envelope_sender,
        alias=alias,
        hidden=(message.recipient,),
        original_message_id=message.original_message_id,
        received_headers=head,
        received_at=message.received_at,
    )


def enqueue(session: Session, notice: QueuedNotice) -> None:
    """Queue a notice: a message row of its own, its form archived, null envelope sender."""
    archive.append(session.connection(), [_notice(session, notice)])


def _notice(session: Session, notice: QueuedNotice) -> NewRecord:
    """The notice's message and queue rows; its archive record is the caller's to chain."""
    parent = session.get(t.Message, notice.parent_id)
    session.add(
        t.Message(
            id=notice.message_id,
            relationship_id=(parent.relationship_id
                             if parent is not None and notice.in_relationship else None),
            direction="notice",
            subject=notice.subject,
            relay_message_id=notice.relay_message_id,
            parent_id=notice.parent_id,
            envelope_sender="",
            recipient=notice.recipient,
        )
    )
    session.flush()
    session.add(t.QueueEntry(message_id=notice.message_id, envelope_from="",
                             recipient=notice.recipient))
    session.flush()
    return NewRecord.of(notice.message_id, "delivered", notice.data, utcnow())


def record_report(
    session: Session, message_id: str, about: str, received: bytes,
    notice: QueuedNotice | None,
) -> None:
    """An incoming bounce: archived, its message marked bounced, one notice at most."""
    session.add(t.Message(
        id=message_id, relationship_id=None, direction="bounce", subject=None,
        relay_message_id=relay_message_id(message_id, "bounce.invalid"), parent_id=about,
        envelope_sender="", recipient="", status="consumed",
    ))
    session.flush()
    records = [NewRecord.of(message_id, "received", received, utcnow())]
    original = session.get(t.Message, about)
    if original is not None and original.status != "bounced":
        # A second bounce for one message tells nobody again.
        original.status = "bounced"
        session.execute(delete(t.QueueEntry).where(t.QueueEntry.message_id == about))
        if notice is not None:
            records.append(_notice(session, notice))
    session.flush()
    archive.append(session.connection(), records)  # last: it holds the chain's head
