"""The Transaction the steps share, and parsing helpers around `email`."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from relay.store import QueuedNotice, Route

_PARSER = BytesParser(policy=policy.default)
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass
class Transaction:
    """One SMTP mail transaction as it moves through the steps.

    RCPT steps fill `route`; DATA steps read `received` and `message` and fill
    the rest, up to `delivered`, the form the recipient will get.
    """

    id: str
    peer: str
    mail_from: str  # lower-cased; "" for the null sender
    candidate: str = ""  # the RCPT address the RCPT steps are deciding on
    route: Route | None = None
    received: bytes = b""
    message: EmailMessage | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    parent_id: str | None = None
    delivered: bytes | None = None
    consumed: bool = False  # kept on record, not passed on (auto-replies, receipts)
    about: str | None = None  # for a bounce at a VERP address: the message it reports on
    notice: QueuedNotice | None = None  # the notice a reported bounce makes for its sender

    @property
    def parsed(self) -> EmailMessage:
        if self.message is None:
            self.message = parse(self.received)
        return self.message


def new_id() -> str:
    """A message id: random, URL- and filename-safe, also used in Message-IDs."""
    return secrets.token_hex(16)


def parse(data: bytes) -> EmailMessage:
    return _PARSER.parsebytes(data)


def has_bare_line_ending(data: bytes) -> bool:
    """RFC 5321 §2.3.8: lines end in CRLF; a CR or LF alone is how SMTP smuggling starts."""
    # Counting is ten times faster than the regex on a large message; the regex is
    # only needed to say where, which nobody asks.
    pairs = data.count(b"\r\n")
    return data.count(b"\r") != pairs or data.count(b"\n") != pairs


def message_ids(value: str | None) -> list[str]:
    """The `<id>` tokens of a Message-ID, In-Reply-To or References value."""
    return _MSGID.findall(value or "")


def header_text(message: EmailMessage, name: str) -> str | None:
    """A header's decoded value, or None; a header too broken to decode counts as absent."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        return None
    return None if value is None else str(value)
