"""The archive's chain as one object: what `relay archive verify` reads, a page at a time."""

from __future__ import annotations

from datetime import datetime

from relay.archive.chain import Head, Record
from relay.model import Redaction
from relay.store import archive, retention
from relay.store.units import Units


class ArchiveStore:
    def __init__(self, units: Units) -> None:
        self._units = units

    async def redact(self, message_id: str, reason: str, now: datetime) -> Redaction | None:
        """Tombstone the message's archived content and chain the act, in one commit."""
        return await self._units.core(archive.redact, message_id, reason, now)

    async def head(self) -> Head:
        return await self._units.read(archive.head)

    async def page(self, after: int, upto: int, limit: int) -> list[Record]:
        """Records with `after` < seq <= `upto`, in chain order, at most `limit`."""
        return await self._units.read(archive.page, after, upto, limit)

    async def holding(self, content_hash: str) -> int | None:
        """The seq of a record whose content hashes to `content_hash`, if any."""
        return await self._units.read(archive.holding, content_hash)

    async def following(self, chain_hash: str) -> int | None:
        """The seq of the record that follows the one whose chain hash is given."""
        return await self._units.read(archive.following, chain_hash)

    # Retention (relay.store.retention): what `relay archive purge` reads and removes.

    async def latest_checkpoint(self) -> tuple[int, bytes] | None:
        return await self._units.read(retention.latest_checkpoint)

    async def due(self, seqs: list[int], closed_before: datetime) -> set[int]:
        return await self._units.read(retention.due, seqs, closed_before)

    async def mark(self, base: int, upto: int, cutoff: datetime) -> int:
        return await self._units.read(retention.mark, base, upto, cutoff)

    async def chain_hash(self, seq: int) -> str | None:
        return await self._units.read(retention.chain_hash, seq)

    async def standing(self, after: int, upto: int, closed_before: datetime,
                       limit: int) -> list[tuple[int, str, bool]]:
        return await self._units.read(retention.standing, after, upto, closed_before, limit)

    async def anchor(self, base: int, through: int, hash_at: str, content: bytes,
                     now: datetime) -> None:
        await self._units.core(retention.anchor, base, through, hash_at, content, now)

    async def purge_records(self, through: int, closed_before: datetime, limit: int) -> int:
        return await self._units.core(retention.purge_records, through, closed_before, limit)

    async def purge_messages(self, cutoff: datetime, closed_before: datetime,
                             limit: int) -> int:
        return await self._units.core(retention.purge_messages, cutoff, closed_before, limit)
