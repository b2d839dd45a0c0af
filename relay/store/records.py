"""Plain frozen records that leave the store; ORM rows never do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Direction = Literal["seller-to-buyer", "buyer-to-seller", "admin", "notice", "bounce"]
AliasKind = Literal["buyer", "seller"]


class StoreError(Exception):
    """Base of the errors the store raises, worded for the admin."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The database cannot be reached, or has no schema yet."""


@dataclass(frozen=True)
class SellerRecord:
    id: str
    name: str
    email: str
    orders_per_day: int | None
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class BuyerRecord:
    id: str
    email: str
    name: str | None
    language: str | None
    opted_out: bool


@dataclass(frozen=True)
class OrderRecord:
    id: str
    buyer_id: str
    seller_id: str
    status: str


@dataclass(frozen=True)
class Aliases:
    buyer_alias: str
    seller_alias: str


@dataclass(frozen=True)
class AliasInfo:
    kind: AliasKind
    buyer: str
    seller: str
    orders: tuple[str, ...]


@dataclass(frozen=True)
class Route:
    """Where mail to one alias goes, and who may send it.

    `sender_addresses` are every real address of the sending side: the sender
    checks accept only those, and the rewrite removes all of them.
    """

    alias: str
    direction: Direction
    relationship_id: int | None
    buyer_id: str | None
    seller_id: str | None
    recipient: str
    sender_addresses: tuple[str, ...]
    sender_name: str
    sender_alias: str


@dataclass(frozen=True)
class Accepted:
    """Everything the 250 boundary writes in one transaction."""

    message_id: str
    route: Route
    envelope_sender: str
    subject: str | None
    original_message_id: str | None
    relay_message_id: str
    parent_id: str | None
    received: bytes
    delivered: bytes
    envelope_from: str
    deliver: bool = True  # False: archive only (consumed), nothing queued


@dataclass(frozen=True)
class Delivery:
    """A claimed queue entry, ready to hand to a transport."""

    queue_id: int
    message_id: str
    envelope_from: str
    recipient: str
    attempts: int
    data: bytes | None  # None: large, read with Store.body when its turn comes
    created_at: datetime


@dataclass(frozen=True)
class QueueItem:
    message_id: str
    recipient: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True)
class ThreadLink:
    """A Message-ID named by a reply, as the recipient's mail client knows it."""

    translated: str
    message_id: str


@dataclass(frozen=True)
class BounceContext:
    """What a delivery status notice about one message may say, and to whom."""

    message_id: str
    direction: Direction
    envelope_sender: str  # "" for the null sender: such mail gets no notice
    alias: str  # the address the sender wrote to
    hidden: tuple[str, ...]  # real addresses the notice must not show
    original_message_id: str | None
    received_headers: bytes
    received_at: datetime


@dataclass(frozen=True)
class QueuedNotice:
    """A notice to the original sender, queued with the null envelope sender."""

    message_id: str
    parent_id: str
    relay_message_id: str
    recipient: str
    data: bytes
