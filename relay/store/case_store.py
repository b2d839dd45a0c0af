"""Cases as one object: open, move, list (a transaction each), and the step's one read."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay.errors import Conflict, NotFound
from relay.model import CasePlace, CaseRecord, CaseRef, CaseState
from relay.store import cases, directory
from relay.store import tables as t
from relay.store.lookups import GroupLookup
from relay.store.tables import utcnow
from relay.store.units import Units


class CaseStore:
    """See `relay.ports.CaseLookup` for what the pipeline uses."""

    def __init__(self, units: Units, alias_length: int, alias_domain: str) -> None:
        self._units = units
        self._alias_length = alias_length
        self._alias_domain = alias_domain
        self._places: GroupLookup[cases.Place, CasePlace] = GroupLookup(self._read_places)

    async def open(self, buyer_id: str, seller_id: str, order_id: str | None = None,
                   subject: str | None = None) -> CaseRecord:
        """A new open case of the pair (whose aliases are made if need be)."""
        now = utcnow()

        def work(session: Session) -> CaseRecord:
            def relationship() -> t.Relationship:
                return directory.relationship(session, buyer_id, seller_id,
                                              self._alias_length, self._alias_domain)

            case_id = cases.open_case(session, relationship, order_id, subject, now)
            return cases.records(session, case_id=case_id)[0]

        try:
            return await self._units.session(work)
        except Conflict as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # Another opening won the race past the check: the index refused this one.
            winner = await self._units.session(self._current, buyer_id, seller_id)
            if winner is None:
                raise
            raise cases.already_open(buyer_id, seller_id, winner) from None

    def _current(self, session: Session, buyer_id: str, seller_id: str) -> CaseRef | None:
        rel_id = session.scalar(
            select(t.Relationship.id).where(
                t.Relationship.buyer_id == buyer_id, t.Relationship.seller_id == seller_id)
        )
        return None if rel_id is None else cases.current(session, rel_id)

    async def move(self, case_id: int, to: CaseState) -> CaseRecord:
        now = utcnow()

        def work(session: Session) -> CaseRecord:
            cases.move(session, case_id, to, now)
            return cases.records(session, case_id=case_id)[0]

        return await self._units.session(work)

    async def records(self, *, buyer: str | None = None, seller: str | None = None,
                      state: CaseState | None = None) -> list[CaseRecord]:
        """Newest first; naming an unknown buyer or seller is NotFound, not an empty list."""
        def work(session: Session) -> list[CaseRecord]:
            if buyer is not None and session.get(t.Buyer, buyer) is None:
                raise NotFound(f"no buyer {buyer!r}")
            if seller is not None and session.get(t.Seller, seller) is None:
                raise NotFound(f"no seller {seller!r}")
            return cases.records(session, buyer=buyer, seller=seller, state=state)

        return await self._units.session(work)

    async def case_place(self, relationship_id: int, parent_id: str | None) -> CasePlace:
        """Read at every message; concurrent sessions' reads share one query."""
        found = await self._places.get((relationship_id, parent_id))
        assert found is not None  # every key asked gets a place
        return found

    async def _read_places(self, wanted: list[cases.Place]) -> dict[cases.Place, CasePlace]:
        return await self._units.read(cases.places, wanted)

    async def close(self) -> None:
        await self._places.close()
