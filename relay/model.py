"""The vocabulary every layer shares: route kinds, directions, statuses and frozen records.

No SQLAlchemy here: the store depends on this module, never the reverse. ORM
rows never leave the store; these records do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

# What an alias (or a role address) stands for: which pipeline its mail takes.
RouteKind = Literal["seller-to-buyer", "buyer-to-seller", "admin", "bounce"]
# Which way a message between the two parties went.
Direction = Literal["seller-to-buyer", "buyer-to-seller"]
# What an archived message is: mail on a route, or a notice the relay wrote itself.
MessageKind = Literal["seller-to-buyer", "buyer-to-seller", "admin", "bounce", "notice"]
# Where a message stands; SPEC §6 prints these.
MessageStatus = Literal["queued", "delivered", "bounced", "refused", "consumed"]
MESSAGE_STATUSES: tuple[MessageStatus, ...] = (
    "queued", "delivered", "bounced", "refused", "consumed",
)
# How one delivery attempt ended (relay.delivery.worker; counted by relay.metrics).
DeliveryOutcome = Literal["delivered", "deferred", "bounced", "expired"]
AliasKind = Literal["buyer", "seller"]
# Where an order stands (SPEC §4); contact reasons are allowed per status.
OrderStatus = Literal["pending", "unshipped", "shipped", "delivered", "cancelled", "returned"]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
NEW_ORDER_STATUS: OrderStatus = "unshipped"
# Where a case stands (SPEC §6): open -> resolved -> closed, resolved -> open; closed is final.
CaseState = Literal["open", "resolved", "closed"]
CASE_STATES: tuple[CaseState, ...] = get_args(CaseState)


@dataclass(frozen=True)
class SmtpClient:
    """Who handed a message over SMTP: what sender authentication checks (SPF)."""

    ip: str
    helo: str


@dataclass(frozen=True)
class AuthenticationResults:
    """The sender-authentication verdict, kept in the archived received form (RFC 8601):
    `value` is what follows `authserv_id` in the field."""

    authserv_id: str
    value: str


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
    kind: RouteKind
    relationship_id: int | None
    buyer_id: str | None
    seller_id: str | None
    recipient: str
    sender_addresses: tuple[str, ...]
    sender_name: str
    sender_alias: str


    @property
    def direction(self) -> Direction | None:
        """Which way mail on this route goes between the parties; None for role routes."""
        kind = self.kind
        if kind == "seller-to-buyer" or kind == "buyer-to-seller":
            return kind
        return None


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
    case_id: int | None = None  # the case the message joins, if its case is still not closed
    contact_reason: str | None = None  # a critical reason that let it past an opt-out
    order_id: str | None = None  # the order the message is about (relay.policy.order_of)


@dataclass(frozen=True)
class RefusalReply:
    """The reply a refused message got: what `message show` prints of a refusal."""

    code: int
    enhanced: str
    text: str


@dataclass(frozen=True)
class Refusal:
    """A message refused after its route was known: logged with its reply and rule, no content.

    Nothing of the message is kept (no subject, no Message-ID, no body): only who
    wrote to whom, when, why it was refused, and the order it named if known.
    """

    message_id: str
    route: Route
    envelope_sender: str
    reply: RefusalReply
    rule: str
    order_id: str | None = None


@dataclass(frozen=True)
class PairPolicy:
    """What the seller-to-buyer rules ask of one relationship, read per message."""

    opted_out: bool  # the buyer wants no unsolicited seller mail
    order_statuses: tuple[str, ...]  # one per order of the pair, cancelled ones included
    order_ids: tuple[str, ...] = ()  # the pair's orders, for finding one named in a subject


@dataclass(frozen=True)
class QuotaRule:
    """A seller's daily message limit (SPEC §2.2): orders per day * per order + base."""

    per_order: int
    base: int

    def limit(self, orders_per_day: int) -> int:
        return orders_per_day * self.per_order + self.base


@dataclass(frozen=True)
class QuotaDecision:
    """A reservation asked of one seller's daily count: granted, or refused at `limit`."""

    limit: int
    granted: bool


@dataclass(frozen=True)
class Delivery:
    """A claimed queue entry, ready to hand to a transport."""

    queue_id: int
    message_id: str
    envelope_from: str
    recipient: str
    attempts: int
    data: bytes | None  # None: large, read with DeliveryQueue.body in its turn
    created_at: datetime
    holder: int  # the claiming process; with `attempts`, what settles only this claim


@dataclass(frozen=True)
class ProcessIdentity:
    """What the store keeps about a relay process, to name it and to tell if it died.

    `node` is one boot of one machine and one PID namespace: only there do `pid`
    and its start time identify the process. None where that cannot be known.
    """

    hostname: str
    pid: int
    node: str | None
    pid_started: int | None


@dataclass(frozen=True)
class ProcessRecord:
    id: int
    identity: ProcessIdentity
    heartbeat_at: datetime


@dataclass(frozen=True)
class QueueItem:
    message_id: str
    recipient: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    holder: str | None  # "host[pid]" of the process delivering it now, if any
    lease_until: datetime | None  # when that claim runs out unless its holder renews it


@dataclass(frozen=True)
class Backlog:
    """The delivery queue at a glance: how many entries wait, and since when the oldest."""

    depth: int
    oldest: datetime | None  # when the oldest entry was queued; None when the queue is empty

    def oldest_age(self, now: datetime) -> float:
        """Seconds the oldest entry has waited (0 when the queue is empty)."""
        return 0.0 if self.oldest is None else max(0.0, (now - self.oldest).total_seconds())


@dataclass(frozen=True)
class ThreadLink:
    """A Message-ID named by a reply, as the recipient's mail client knows it."""

    translated: str
    message_id: str
    order_id: str | None = None  # the order of that message, which a reply inherits


@dataclass(frozen=True)
class BounceContext:
    """What a delivery status notice about one message may say, and to whom."""

    message_id: str
    kind: MessageKind
    envelope_sender: str  # "" for the null sender: such mail gets no notice
    alias: str  # the address the sender wrote to
    hidden: tuple[str, ...]  # real addresses the notice must not show
    original_message_id: str | None
    received_headers: bytes
    received_at: datetime


@dataclass(frozen=True)
class QueuedNotice:
    """A notice the relay writes (to the original sender, or to the admin), queued with
    the null envelope sender like any message, so that it is retried and never lost.

    `in_relationship`: whether it belongs to its parent's relationship. A delivery
    status notice to a party does; the admin's notice about a report, which carries
    both parties' real addresses, does not.
    """

    message_id: str
    parent_id: str
    relay_message_id: str
    recipient: str
    data: bytes
    subject: str = "Undelivered Mail Returned to Sender"
    in_relationship: bool = True


@dataclass(frozen=True)
class ReportRecord:
    """A report on a message (SPEC §6); one message may be reported several times.

    `reporter` says who: "cli" for the operator's command line (later an API key's
    name); `notice` is the message id of the notice queued for `admin.address`.
    """

    id: str
    message: str
    reporter: str
    reason: str
    reported_at: datetime
    notice: str | None


@dataclass(frozen=True)
class CaseRecord:
    """A case as the fronts show it; `id` is the string they print and take back."""

    id: str
    state: CaseState
    buyer: str
    seller: str
    order: str | None
    subject: str | None
    messages: int
    last_activity: datetime  # the latest message of the case, or its last change of state
    opened_at: datetime


@dataclass(frozen=True)
class CaseRef:
    id: int
    state: CaseState


@dataclass(frozen=True)
class CasePlace:
    """The cases a new message may belong to: its parent's, and the relationship's current one."""

    parent: CaseRef | None  # the case of the message it replies to, if that one has a case
    current: CaseRef | None  # the relationship's case that is not closed, if any


@dataclass(frozen=True)
class MessageRecord:
    """A message as the log lists it (SPEC §6); parties by their ids, never an address."""

    id: str
    direction: Direction
    buyer: str
    seller: str
    order: str | None
    case: str | None
    subject: str | None
    received_at: datetime
    status: MessageStatus
    response_needed: bool


@dataclass(frozen=True)
class ResponseTime:
    """A seller's answers to buyer messages over a window of days (SPEC §6)."""

    seller: str
    days: int
    messages: int
    answered_within_24h: int
    pending: int
    rate: float | None


@dataclass(frozen=True)
class ArchivedMessage:
    """A message with its archived forms and the real addresses a view must hide.

    `hidden` maps each real address of the two parties to the alias shown instead;
    it never leaves the operations.
    """

    record: MessageRecord
    sender_alias: str
    recipient_alias: str
    received: bytes
    delivered: bytes | None
    hidden: dict[str, str]
    reply: RefusalReply | None = None  # a refused message's reply, and the rule that refused
    rule: str | None = None


@dataclass(frozen=True)
class MessageView:
    """`message show`: the log's fields, the parties' aliases, the delivered headers and text."""

    id: str
    direction: Direction
    buyer: str
    seller: str
    order: str | None
    case: str | None
    subject: str | None
    received_at: datetime
    status: MessageStatus
    response_needed: bool
    sender: str
    recipient: str
    headers: list[tuple[str, str]]
    text: str | None
    reply: RefusalReply | None  # refused: the reply the sender got, and the rule that refused
    rule: str | None


@dataclass(frozen=True)
class Dispute:
    """What `archive export` writes: one relationship's mail, or one case's.

    `messages` have a delivered form (they go into the export); `not_delivered`
    were kept without delivery (consumed) and are left out.
    """

    relationship_id: int
    case_id: int | None
    messages: int
    not_delivered: int


@dataclass(frozen=True)
class DisputeMessage:
    """One message of a dispute as delivered, with the real addresses a view must hide.

    `hidden` maps each real address of the two parties to its alias; it never
    leaves the operations.
    """

    id: str
    direction: Direction
    received_at: datetime
    sender_alias: str
    delivered: bytes
    hidden: dict[str, str]


@dataclass(frozen=True)
class ExportSummary:
    """What `archive export` wrote: `messages` in the mbox, `not_delivered` left out."""

    messages: int
    not_delivered: int


@dataclass(frozen=True)
class ArchiveCheck:
    """What `archive verify` found: SPEC §6 prints ok, records and first_bad.

    `first_bad` names the first bad record by its message id, or "#<seq>" for a
    record of no message or one that is gone; `problem` says what is wrong.
    """

    ok: bool
    records: int
    first_bad: str | None
    problem: str | None
    head_seq: int
    head_hash: str


@dataclass(frozen=True)
class PurgeSummary:
    """What `archive purge` did: records `purged`, records `kept` below its checkpoint
    (their case is not closed), message rows removed (None on a dry run), and the
    checkpoint record it chained (None when nothing was due)."""

    purged: int
    kept: int
    messages: int | None
    checkpoint: int | None


@dataclass(frozen=True)
class DkimRecord:
    """A key `relay dkim keygen` wrote, and the DNS TXT record that publishes it."""

    selector: str
    domain: str
    name: str  # SELECTOR._domainkey.DOMAIN
    txt: str  # the record's value, whole: "v=DKIM1; k=rsa; p=..."
    private_key_file: str


@dataclass(frozen=True)
class Redaction:
    """An erasure request carried out: the records emptied and the chain record of the act."""

    message: str
    records: tuple[int, ...]
    seq: int
    reason: str
    redacted_at: datetime
