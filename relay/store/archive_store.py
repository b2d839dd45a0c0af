"""The archive's chain as one object: what `relay archive verify` reads, a page at a time."""

from __future__ import annotations

from relay.archive.chain import Head, Record
from relay.store import archive
from relay.store.units import Units


class ArchiveStore:
    def __init__(self, units: Units) -> None:
        self._units = units

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
