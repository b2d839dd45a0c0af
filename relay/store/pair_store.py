"""A relationship's standing for the seller-to-buyer rules, read afresh for every message."""

from __future__ import annotations

from relay.model import PairPolicy
from relay.store import pairs
from relay.store.units import Units


class PairStore:
    """See `relay.ports.PairLookup`. Nothing is cached: an opt-in applies to the next message."""

    def __init__(self, units: Units) -> None:
        self._units = units

    async def pair_policy(self, relationship_id: int) -> PairPolicy:
        return await self._units.read(pairs.pair_policy, relationship_id)

    async def buyer_wrote_in(self, relationship_id: int, relay_ids: list[str]) -> bool:
        return await self._units.read(pairs.buyer_wrote_in, relationship_id, relay_ids)
