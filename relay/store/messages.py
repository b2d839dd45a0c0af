"""Accepted messages: the 250 boundary, and the Message-ID map that keeps threads intact."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from relay.store import tables as t
from relay.store.records import Accepted, Direction, ThreadLink


async def accept(session: AsyncSession, accepted: Accepted) -> None:
    """Record the message, archive both forms and queue its delivery (no commit)."""
    route = accepted.route
    session.add(
        t.Message(
            id=accepted.message_id,
            relationship_id=route.relationship_id,
            direction=route.direction,
            subject=accepted.subject,
            original_message_id=accepted.original_message_id,
            relay_message_id=accepted.relay_message_id,
            parent_id=accepted.parent_id,
            envelope_sender=accepted.envelope_sender,
            recipient=route.recipient,
            status="queued" if accepted.deliver else "consumed",
        )
    )
    await session.flush()
    session.add(
        t.ArchivedForm(message_id=accepted.message_id, form="received", data=accepted.received)
    )
    if accepted.deliver:
        session.add_all(
            [
                t.ArchivedForm(
                    message_id=accepted.message_id, form="delivered", data=accepted.delivered
                ),
                t.QueueEntry(
                    message_id=accepted.message_id,
                    envelope_from=accepted.envelope_from,
                    recipient=route.recipient,
                ),
            ]
        )
    await session.flush()


async def thread_links(
    session: AsyncSession, relationship_id: int, direction: Direction, ids: list[str]
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
        await session.scalars(
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
                links[wanted] = ThreadLink(translated, row.id)
                break
            if row.original_message_id == wanted and row.direction == direction:
                links[wanted] = ThreadLink(row.relay_message_id, row.id)
                break
    return links


async def archived(session: AsyncSession, message_id: str) -> dict[str, bytes]:
    """The archived forms of one message by name ("received", "delivered")."""
    rows = await session.execute(
        select(t.ArchivedForm.form, t.ArchivedForm.data).where(
            t.ArchivedForm.message_id == message_id
        )
    )
    return {form: data for form, data in rows}
