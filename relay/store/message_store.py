"""Accepted messages as one object: the 250 boundary, bounce reports, thread links, the archive."""

from __future__ import annotations

from datetime import datetime

from relay.model import (
    Accepted,
    ArchivedMessage,
    Direction,
    Dispute,
    DisputeMessage,
    MessageRecord,
    QueuedNotice,
    Refusal,
    ResponseTime,
    ThreadLink,
)
from relay.store import dispute, message_log, messages, notices
from relay.store.batch import GroupCommit
from relay.store.units import Units


class MessageStore:
    """See `relay.ports.Acceptance` and `relay.ports.ThreadLookup`."""

    def __init__(self, units: Units) -> None:
        self._units = units
        self._accepts: GroupCommit[Accepted] = GroupCommit(units.batch, messages.accept)

    async def accept(self, accepted: Accepted) -> None:
        """The 250 boundary: message, both archived forms and the queue row, or nothing.

        Concurrent calls share one commit (group commit); each returns only once
        its own rows are durable.
        """
        await self._accepts.submit(accepted)

    async def refused(self, refusal: Refusal) -> None:
        """Log a refused message (relay.ports.RefusalLog); committed, not fsynced:
        a refusal lost to a machine failure costs a line of the log, not a message."""
        await self._units.light(messages.refuse, refusal)

    async def accept_report(
        self, message_id: str, about: str, received: bytes, notice: QueuedNotice | None
    ) -> None:
        """Record a bounce that came back to a VERP address, in one commit."""
        await self._units.session(notices.record_report, message_id, about, received, notice)

    async def thread_links(
        self, relationship_id: int, direction: Direction, ids: list[str]
    ) -> dict[str, ThreadLink]:
        return await self._units.session(messages.thread_links, relationship_id, direction, ids)

    async def archived(self, message_id: str) -> dict[str, bytes]:
        return await self._units.session(messages.archived, message_id)

    async def run(self) -> None:
        """The group-commit writer, for the app's task group to own."""
        await self._accepts.run()

    async def close(self) -> None:
        await self._accepts.close()

    async def records(
        self, *, buyer: str | None = None, seller: str | None = None,
        case_id: int | None = None, everything: bool = False, limit: int = 50,
        before: str | None = None, reported: bool = False,
    ) -> list[MessageRecord]:
        """The message log, newest first; an unknown party, case or `before` is NotFound."""
        return await self._units.session(
            message_log.records, buyer=buyer, seller=seller, case_id=case_id,
            everything=everything, limit=limit, before=before, reported=reported)

    async def mark_no_response_needed(self, message_id: str) -> MessageRecord | None:
        return await self._units.session(message_log.mark_no_response_needed, message_id)

    async def response_time(self, seller: str, days: int, now: datetime) -> ResponseTime:
        return await self._units.session(message_log.response_time, seller, days, now)

    async def archived_message(self, message_id: str) -> ArchivedMessage | None:
        return await self._units.session(message_log.archived_message, message_id)

    async def dispute(self, buyer: str, seller: str, case_id: int | None) -> Dispute:
        """The relationship (and case) an export covers; unknown or mismatched: NotFound."""
        return await self._units.read(dispute.dispute, buyer, seller, case_id)

    async def dispute_page(
        self, relationship_id: int, case_id: int | None, after: tuple[datetime, str] | None,
        limit: int, budget: int,
    ) -> list[DisputeMessage]:
        """The next page of a dispute's delivered messages, oldest first (keyset `after`)."""
        return await self._units.read(dispute.page, relationship_id, case_id, after, limit,
                                      budget)
