"""What the steps, the 250 boundary and the workers need from the store, as Protocols.

Nothing here imports SQLAlchemy: policy, content and delivery code depend on
these narrow seams, and `relay.store` is one implementation of them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol

from relay.model import (
    Accepted,
    BounceContext,
    CasePlace,
    Delivery,
    Direction,
    PairPolicy,
    ProcessIdentity,
    ProcessRecord,
    QueuedNotice,
    QuotaDecision,
    QuotaRule,
    Refusal,
    Route,
    ThreadLink,
)


class RouteLookup(Protocol):
    """Where mail to an alias goes, and who owns a sending address (read at every RCPT)."""

    async def route(self, alias: str) -> Route | None: ...

    async def seller_owning(self, address: str) -> str | None: ...


class ThreadLookup(Protocol):
    async def thread_links(
        self, relationship_id: int, direction: Direction, ids: list[str]
    ) -> dict[str, ThreadLink]:
        """The Message-IDs a reply names, as its recipient's client knows them."""
        ...


class CaseLookup(Protocol):
    async def case_place(self, relationship_id: int, parent_id: str | None) -> CasePlace:
        """The case of message `parent_id` and the relationship's case that is not closed."""
        ...


class PairLookup(Protocol):
    """A relationship's standing, read per message so that a change applies at once."""

    async def pair_policy(self, relationship_id: int) -> PairPolicy: ...

    async def buyer_wrote_in(self, relationship_id: int, relay_ids: list[str]) -> bool:
        """Whether one of these relay-issued Message-IDs names a thread of the pair that
        the buyer started or wrote in."""
        ...


class QuotaCounter(Protocol):
    """Each seller's messages per UTC day; a reservation is atomic across processes."""

    async def reserve(self, seller_id: str, now: datetime, rule: QuotaRule) -> QuotaDecision:
        """Count one message against the seller's day of `now`, unless the limit is reached."""
        ...

    async def release(self, seller_id: str, day: date) -> None:
        """Give back one message reserved on `day`."""
        ...


class Acceptance(Protocol):
    """The 250 boundary: each call returns only once its rows are durable."""

    async def accept(self, accepted: Accepted) -> None: ...

    async def accept_report(
        self, message_id: str, about: str, received: bytes, notice: QueuedNotice | None
    ) -> None: ...


class RefusalLog(Protocol):
    """Where a refused message is put on record (the message log), without its content."""

    async def refused(self, refusal: Refusal) -> None: ...


class DeliveryQueue(Protocol):
    """Claim due deliveries under a lease, then settle each one."""

    async def claim(self, now: datetime, lease: timedelta, limit: int,
                    holder: int) -> list[Delivery]:
        """Up to `limit` due entries, leased to process `holder` until `now + lease`."""
        ...

    async def body(self, delivery: Delivery) -> bytes: ...

    async def delivered(self, delivery: Delivery) -> None: ...

    async def retry_at(self, delivery: Delivery, when: datetime, error: str) -> None: ...

    async def failed(
        self, delivery: Delivery, error: str, notice: QueuedNotice | None = None
    ) -> bool:
        """Give up on a claimed delivery; False if the claim was lost (nothing done)."""
        ...

    async def release(self, deliveries: list[Delivery]) -> None: ...


class ProcessRegistry(Protocol):
    """The relay processes on one store, each known by its heartbeat."""

    async def register(self, me: ProcessIdentity, now: datetime,
                       forget_before: datetime | None = None) -> int: ...

    async def beat(self, me: int, held: list[int], now: datetime,
                   until: datetime) -> list[int] | None:
        """Stamp `me` alive and extend its leases on `held`: the ids extended, or
        None if `me` is no longer registered."""
        ...

    async def on_node(self, node: str) -> list[ProcessRecord]: ...

    async def forget(self, process_ids: list[int]) -> None:
        """Remove these processes and free every lease they hold."""
        ...


class BounceFacts(Protocol):
    async def bounce_context(self, message_id: str) -> BounceContext | None:
        """What a notice about `message_id` may say and to whom; None if it is unknown."""
        ...


class Keys(Protocol):
    async def key(self, name: str) -> bytes:
        """A secret of the relay's own, the same for every instance (e.g. "verp")."""
        ...
