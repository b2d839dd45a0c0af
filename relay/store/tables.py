"""The schema: SQLAlchemy 2 declarative models, shared by SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from relay.model import MessageStatus


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# Stable constraint names keep Alembic migrations identical on both backends.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Seller(Base):
    __tablename__ = "sellers"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    email: Mapped[str] = mapped_column(String(320))
    orders_per_day: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SellerAddress(Base):
    """An address the seller may send from; the primary address is one of them."""

    __tablename__ = "seller_addresses"
    seller_id: Mapped[str] = mapped_column(
        ForeignKey("sellers.id", ondelete="CASCADE"), primary_key=True
    )
    # Unique: an address speaks for one seller only, also under concurrent writes.
    address: Mapped[str] = mapped_column(String(320), primary_key=True, index=True, unique=True)


class Buyer(Base):
    __tablename__ = "buyers"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str | None] = mapped_column(String(16))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Relationship(Base):
    """One buyer-seller pair and its two aliases, which never change."""

    __tablename__ = "relationships"
    __table_args__ = (UniqueConstraint("buyer_id", "seller_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    buyer_id: Mapped[str] = mapped_column(ForeignKey("buyers.id"))
    seller_id: Mapped[str] = mapped_column(ForeignKey("sellers.id"), index=True)
    buyer_alias: Mapped[str] = mapped_column(String(320), unique=True)
    seller_alias: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    relationship_id: Mapped[int] = mapped_column(ForeignKey("relationships.id"), index=True)
    status: Mapped[str] = mapped_column(String(64), default="unshipped")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# At most one case of a relationship is not closed (SPEC §6); the index holds it even
# when two `case open` race, on both backends.
NOT_CLOSED = "state != 'closed'"


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("uq_cases_not_closed", "relationship_id", unique=True,
              sqlite_where=text(NOT_CLOSED), postgresql_where=text(NOT_CLOSED)),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    relationship_id: Mapped[int] = mapped_column(ForeignKey("relationships.id"), index=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"))
    subject: Mapped[str | None] = mapped_column(String(998))
    state: Mapped[str] = mapped_column(String(16), default="open")  # open|resolved|closed
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """One accepted message, with the Message-ID map that keeps threads intact."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_original", "relationship_id", "original_message_id"),
        # A buyer message's answer: the seller's next message of its thread.
        Index("ix_messages_thread", "thread_id", "direction", "received_at"),
        # A relationship's mail in the order it arrived: `archive export` pages on it.
        Index("ix_messages_relationship_time", "relationship_id", "received_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    relationship_id: Mapped[int | None] = mapped_column(ForeignKey("relationships.id"))
    direction: Mapped[str] = mapped_column(String(16))  # buyer-to-seller|seller-to-buyer|admin
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"))
    subject: Mapped[str | None] = mapped_column(Text)
    original_message_id: Mapped[str | None] = mapped_column(String(998))
    # NULL for a refused message: nobody was given an ID for it, nothing can reply to it.
    relay_message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    parent_id: Mapped[str | None] = mapped_column(String(32))
    # The first message of the thread (its parent's thread, or itself): a seller
    # message here answers every earlier buyer message of the thread (SPEC §6).
    thread_id: Mapped[str | None] = mapped_column(String(32))
    no_response_needed: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())
    envelope_sender: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[MessageStatus] = mapped_column(String(16), default="queued")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # A critical contact reason (X-Contact-Reason) that let the message past the
    # buyer's opt-out: kept so that a seller labelling cold mail critical is seen.
    contact_reason: Mapped[str | None] = mapped_column(String(64))
    # A refused message (status "refused"): the reply its sender got and the rule
    # that refused it (relay.replies). NULL for every other message.
    reply_code: Mapped[int | None] = mapped_column(Integer)
    reply_enhanced: Mapped[str | None] = mapped_column(String(16))
    reply_text: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(64))


class Report(Base):
    """Someone reported a message (SPEC §6): who, when and why; a message may have several.

    `notice` is the message row of the notice queued for `admin.address` in the
    same commit, so the report and its delivery stand or fall together.
    """

    __tablename__ = "reports"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    reporter: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notice_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"))


class QuotaUse(Base):
    """The messages a seller has used of one UTC day's quota (SPEC §2.2).

    Raised by a conditional increment before the 250, lowered again when the
    message is refused or kept without delivery: the check and the count are one
    statement, so concurrent sessions and relay processes cannot overshoot.
    """

    __tablename__ = "quota_usage"
    seller_id: Mapped[str] = mapped_column(
        ForeignKey("sellers.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)
    # The seller's orders per day (30 days' orders / 30, rounded up), counted at the
    # day's first message; NULL until then.
    recent_orders: Mapped[int | None] = mapped_column(Integer)


class ArchivedForm(Base):
    """The message as received and as delivered, byte for byte: one record of the hash chain.

    Written only through `relay.store.archive.append`, which gives each record its
    place (`seq`, 1, 2, ... in commit order) and its hashes (`relay.archive.chain`).
    A redaction replaces `data` by a tombstone and keeps `content_hash`.
    """

    __tablename__ = "archive"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # None for a record of no message (one the chain itself needs).
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"), index=True)
    form: Mapped[str] = mapped_column(String(16))  # received|delivered|redaction
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    redaction_reason: Mapped[str | None] = mapped_column(Text)


class ArchiveHead(Base):
    """The chain's one row: its newest record (`seq`, `hash`) and where it starts.

    Writers lock it as the last step of their transaction, so records take seqs
    in commit order. `base_seq`/`base_hash` are the record the chain follows
    (0 and the genesis hash until a purge removes the oldest records).
    """

    __tablename__ = "archive_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    base_seq: Mapped[int] = mapped_column(BigInteger)
    base_hash: Mapped[str] = mapped_column(String(64))


class QueueEntry(Base):
    """A delivery still owed: the row behind every 250."""

    __tablename__ = "queue"
    __table_args__ = (Index("ix_queue_due", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), unique=True)
    envelope_from: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process holding the lease (processes.id). No foreign key: the row of a
    # process long gone may be forgotten while an expired lease still names it.
    holder: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Process(Base):
    """A relay process serving this store, alive while its heartbeat is recent."""

    __tablename__ = "processes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # Where `pid` means something: one boot of one machine, one PID namespace
    # (None where that cannot be known). Only a process there can tell, by its
    # start time, that this one has died.
    node: Mapped[str | None] = mapped_column(String(128))
    pid_started: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Secret(Base):
    """Keys the relay makes for itself, shared by every instance on the store."""

    __tablename__ = "secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Core handles for the hot path, where the ORM's unit of work costs more than the rows.
MESSAGES = Base.metadata.tables["messages"]
ARCHIVE = Base.metadata.tables["archive"]
ARCHIVE_HEAD = Base.metadata.tables["archive_head"]
QUEUE = Base.metadata.tables["queue"]
RELATIONSHIPS = Base.metadata.tables["relationships"]
BUYERS = Base.metadata.tables["buyers"]
SELLERS = Base.metadata.tables["sellers"]
SELLER_ADDRESSES = Base.metadata.tables["seller_addresses"]
ORDERS = Base.metadata.tables["orders"]
QUOTA_USAGE = Base.metadata.tables["quota_usage"]
PROCESSES = Base.metadata.tables["processes"]
CASES = Base.metadata.tables["cases"]
REPORTS = Base.metadata.tables["reports"]
