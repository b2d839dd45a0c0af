"""The Transaction the steps share, and parsing helpers around `email`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import policy
from email.errors import HeaderParseError
from email.feedparser import BytesFeedParser
from email.header import Header, decode_header, make_header
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from typing import Any

from relay.model import AuthenticationResults, PairPolicy, QueuedNotice, Route, SmtpClient
from relay.replies import S554_TOO_DEEP, Refused

_CHUNK = 8192  # what Parser.parse reads at a time: the parser sees the same feed as before


@dataclass
class Transaction:
    """One SMTP mail transaction as it moves through the steps.

    RCPT steps fill `route`; DATA steps read `received` and `message` and fill
    the rest, up to `delivered`, the form the recipient will get.
    """

    id: str
    peer: str
    mail_from: str  # lower-cased; "" for the null sender
    # The SMTP client, for sender authentication; None for mail submitted without SMTP
    # (`relay send`, the API), which the submitting front vouches for.
    client: SmtpClient | None = None
    candidate: str = ""  # the RCPT address the RCPT steps are deciding on
    route: Route | None = None
    received: bytes = b""
    message: EmailMessage | None = None
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    parent_id: str | None = None
    case_id: int | None = None  # the case the message joins (relay.policy.cases)
    # The order the message is about (relay.policy.order_of): preset by a submission
    # that names one (a template); the parent's, as Threading found it.
    order_id: str | None = None
    parent_order_id: str | None = None
    delivered: bytes | None = None
    about: str | None = None  # for a bounce at a VERP address: the message it reports on
    notice: QueuedNotice | None = None  # the notice a reported bounce makes for its sender
    contact_reason: str | None = None  # a critical contact reason that let it past an opt-out
    # The sender-authentication verdict (relay.policy.authentication), archived with the
    # received form (stamp_results), never delivered.
    authentication: AuthenticationResults | None = None
    pair: PairPolicy | None = None  # the pair's standing, read once by the rules that need it
    # What steps took that must be given back if the message is not queued after all
    # (a quota reservation): intake runs these when a later step stops the message.
    undo: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def parsed(self) -> EmailMessage:
        if self.message is None:
            self.message = parse(self.received)
        return self.message


def new_id() -> str:
    """A message id: random, URL- and filename-safe, also used in Message-IDs."""
    return secrets.token_hex(16)


_CLASSES: dict[type, type[BaseHeader]] = {}


class _Headers(HeaderRegistry):
    """The stdlib header registry, parsing each distinct header value only once.

    The policy parses a header anew on every read: between the parser, the
    steps and the generator a part's Content-Type is read a dozen times. A
    header object is never changed once made, so handing out one is safe.
    """

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, ...], BaseHeader] = {}
        self._limit = limit

    def __getitem__(self, name: str) -> type[BaseHeader]:
        # The stdlib makes a new class for every header it parses; one per kind will do.
        kind = self.registry.get(name.lower(), self.default_class)
        made = _CLASSES.get(kind)
        if made is None:
            made = _CLASSES[kind] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        key = _memo_key(name, value)
        if key is None:  # a datetime, a header object: set once, by our code
            return super().__call__(name, value)
        header = self._parsed.get(key)
        if header is None:
            if self._limit is not None and len(self._parsed) >= self._limit:
                self._parsed.clear()
            header = self._parsed[key] = super().__call__(name, value)
        return header


def _memo_key(name: str, value: Any) -> tuple[str, ...] | None:
    """What a header is made of: its text, or an Address's parts (whose text the stdlib
    parses again, as if the address had come from the sender); None for other values."""
    if type(value) is str:
        return (name, value)
    if type(value) is Address:
        return (name, "Address", value.display_name, value.username, value.domain)
    return None


# For the headers relay writes itself (Content-Type: text/plain; charset="utf-8",
# MIME-Version: 1.0, ...): the same few values in every message, parsed once per
# process. Bounded, since a Subject or a file name is new in each message.
WRITING = policy.default.clone(header_factory=_Headers(limit=4096))


def parse(data: bytes) -> EmailMessage:
    """What `BytesParser(policy=policy.default).parsebytes(data)` gives, at less cost.

    parsebytes() holds the whole message once as a str and again in a StringIO,
    at four bytes a character; the same chunks fed from the bytes need neither.
    Each message gets its own `_Headers`, so the memo lives as long as the message.

    Nesting deep enough to exhaust the parser's recursion is refused (554), as
    relay.content.structure refuses any nesting past its limit.
    """
    parser = BytesFeedParser(EmailMessage, policy=policy.default.clone(header_factory=_Headers()))
    try:
        for start in range(0, len(data), _CHUNK):
            parser.feed(data[start : start + _CHUNK])
        return parser.close()
    except RecursionError as exc:
        raise Refused(S554_TOO_DEEP) from exc


class SevenBitHeaders(EmailPolicy):
    """policy.SMTP, except that every header leaves in 7 bits (RFC 2047 encoded words).

    The stdlib passes a header it did not change through as the client wrote it,
    raw UTF-8 or Latin-1 included (its `cte_type = "8bit"` covers bodies and,
    for headers read from the message, headers too). Raw 8-bit in a header is
    RFC 6532 and needs SMTPUTF8 all the way to the reader, which an upstream
    does not always offer. Here such a header is re-encoded: raw bytes read as
    UTF-8 when they are UTF-8, else as Latin-1, so the reader sees the words the
    sender meant. What the stdlib's own folding leaves 8-bit (a Message-ID, a
    parameter name: malformed input) is encoded whole, as unstructured text.
    The rewrite needs none of this (it writes every header from its decoded
    value); mail passed on as it came does.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        if hasattr(value, "name") or value.isascii():  # a header object folds itself
            text = str(value)
            folded: str = self.fold(name, value)
        else:
            text = _as_text(value)
            try:
                folded = self.header_factory(name, text).fold(policy=self)
            except (ValueError, IndexError, TypeError, AttributeError):  # stdlib parse bugs
                folded = self._unstructured(name, text)
        if not folded.isascii():
            folded = self._unstructured(name, text)
        return folded.encode("ascii")

    def _unstructured(self, name: str, text: str) -> str:
        encoded = Header(text, "utf-8", header_name=name).encode(linesep=self.linesep)
        return f"{name}: {encoded}{self.linesep}"


SMTP_7BIT_HEADERS = SevenBitHeaders(linesep="\r\n")


def _as_text(value: str) -> str:
    """A header value as the sender meant it: raw bytes (kept as surrogates) decoded."""
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def seven_bit_head(data: bytes) -> bytes:
    """`data` with its top-level header section re-encoded in 7 bits, its body untouched.

    For a message relay passes on without rewriting it (mail to the admin) when
    the upstream does not offer SMTPUTF8.
    """
    end = data.find(b"\r\n\r\n")
    head, body = (data, b"") if end < 0 else (data[: end + 2], data[end + 2 :])
    if head.isascii():
        return data
    headers = BytesHeaderParser(policy=SMTP_7BIT_HEADERS).parsebytes(head + b"\r\n")
    fold = SMTP_7BIT_HEADERS.fold_binary
    return b"".join(fold(name, value) for name, value in headers.raw_items()) + body


_RESULTS_FIELD = re.compile(rb"Authentication-Results[ \t]*:", re.IGNORECASE)
_AUTHSERV_ID = re.compile(rb'"(?:[^"\\]|\\.)*"|[^\s;()]+')


def stamp_results(received: bytes, results: AuthenticationResults) -> bytes:
    """`received` with our Authentication-Results on top, and none that claims our
    authserv-id (RFC 8601 §5: a sender could forge one to look checked)."""
    field = f"Authentication-Results: {results.authserv_id};\r\n\t{results.value}\r\n"
    end = received.find(b"\r\n\r\n")
    head, body = (received, b"") if end < 0 else (received[: end + 2], received[end + 2 :])
    ours = results.authserv_id.lower().encode("ascii", "replace")
    fields = re.split(rb"(?<=\r\n)(?![ \t])", head)
    kept = [f for f in fields if not (_RESULTS_FIELD.match(f) and _claims(f, ours))]
    return field.encode("ascii", "replace") + b"".join(kept) + body


def _claims(field: bytes, authserv_id: bytes) -> bool:
    """Whether an Authentication-Results field's authserv-id is `authserv_id`: a token or
    a quoted string (RFC 8601 §2.2), after any comments, nested ones too."""
    value = field.split(b":", 1)[1]
    first = _AUTHSERV_ID.match(value, _past_comments(value))
    return first is not None and first[0].replace(b"\\", b"").strip(b'"').lower() == authserv_id


def _past_comments(value: bytes) -> int:
    """Where `value`'s first word starts, past white space and comments. One pass: a
    sender may nest parentheses by the thousand."""
    depth = escaped = 0
    for at, byte in enumerate(value):
        if escaped:
            escaped = 0
        elif byte == 0x5C and depth:  # a quoted-pair in a comment
            escaped = 1
        elif byte == 0x28:  # (
            depth += 1
        elif byte == 0x29 and depth:  # )
            depth -= 1
        elif not depth and byte not in b" \t\r\n":
            return at
    return len(value)


def has_bare_line_ending(data: bytes) -> bool:
    """RFC 5321 §2.3.8: lines end in CRLF; a CR or LF alone is how SMTP smuggling starts."""
    # Counting is ten times faster than the regex on a large message; the regex is
    # only needed to say where, which nobody asks.
    pairs = data.count(b"\r\n")
    return data.count(b"\r") != pairs or data.count(b"\n") != pairs


def header_text(message: EmailMessage, name: str) -> str | None:
    """A header's decoded value, or None; a header too broken to decode counts as absent."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        return None
    return None if value is None else str(value)


def decode_words(raw: str) -> str | None:
    """A header value with its RFC 2047 encoded words decoded, or None if they cannot be.

    This is the lenient legacy decoder, which also finds encoded words inside a
    word, where the policy's parser leaves them alone: the scrubber's and the
    notices' second reading of a header, to find what an encoding hides.
    """
    try:
        return str(make_header(decode_header(raw)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return None
