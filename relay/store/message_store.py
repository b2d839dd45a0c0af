"""Accepted messages as one object: the 250 boundary, bounce reports, thread links, the archive."""

from __future__ import annotations

from relay.model import Accepted, Direction, QueuedNotice, ThreadLink
from relay.store import messages, notices
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
