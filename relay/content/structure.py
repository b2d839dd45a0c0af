"""Refuse structure relay cannot read with certainty, before any step walks the parts.

The rule (README, "Malformed and hostile mail"): when mail readers could split or
decode a message in more than one way, relay refuses it whole with 554 5.6.0 and
says what; a single leaf part it cannot decode is removed with a note instead
(relay.content.parts). Limits:

- 10 levels of nesting: a real message is rarely more than 4 deep (mixed,
  alternative, related, a forwarded message with the same inside); the parts of
  a deeper one are what nesting bombs are made of.
- 100 parts: well above a message with a few dozen attachments, and it bounds the
  work each content step does per message.
- a header line of 998 characters (RFC 5322 §2.1.1) and a header field of 32 KiB.
"""

from __future__ import annotations

from email import errors
from email.errors import MessageError
from email.message import Message

from relay.message import Transaction
from relay.replies import (
    S554_BAD_BOUNDARY,
    S554_BAD_PART_HEADERS,
    S554_DUPLICATE_HEADER,
    S554_LONG_HEADER,
    S554_MALFORMED,
    S554_TOO_DEEP,
    S554_TOO_MANY_PARTS,
    Refused,
    Reply,
)

MAX_DEPTH = 10  # S554_TOO_DEEP says it
MAX_PARTS = 100  # S554_TOO_MANY_PARTS says it
MAX_HEADER_LINE = 998
MAX_HEADER_FIELD = 32 * 1024

_BOUNDARY_DEFECTS = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.CloseBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
    errors.InvalidMultipartContentTransferEncodingDefect,
)
_HEADER_DEFECTS = (
    errors.MissingHeaderBodySeparatorDefect,
    errors.FirstHeaderLineIsContinuationDefect,
    errors.MisplacedEnvelopeHeaderDefect,
)
# Headers that decide how a part is split or decoded: readers that take the first
# and readers that take the last of two would see different messages.
_ONCE = ("content-type", "content-transfer-encoding", "content-disposition", "mime-version")
_IDENTITY = frozenset({"7bit", "8bit", "binary"})
# What the stdlib email package raises on input it cannot handle (some are its own bugs).
MALFORMED = (
    MessageError, ValueError, LookupError, IndexError, KeyError, TypeError, AttributeError,
    RecursionError,
)


def _reply(reply: Reply, **values: object) -> Reply:
    return reply.but(reply.text.format(**values))


class Budget:
    """Parts counted so far in one message, attached messages included."""

    def __init__(self) -> None:
        self.parts = 0

    def enter(self, depth: int) -> None:
        """Count one more part at `depth`; refuse the message past the limits."""
        if depth > MAX_DEPTH:
            raise Refused(S554_TOO_DEEP)
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Refused(S554_TOO_MANY_PARTS)


def check_part(part: Message, boundaries: tuple[str, ...]) -> None:
    """Refuse one part whose headers or boundary readers could take more than one way.

    `boundaries` are those of the multiparts around it: a boundary that is one of
    them, or starts with one, splits differently depending on who reads it.
    """
    for defect in part.defects:
        if isinstance(defect, _BOUNDARY_DEFECTS):
            raise Refused(S554_BAD_BOUNDARY)
        if isinstance(defect, _HEADER_DEFECTS):
            raise Refused(S554_BAD_PART_HEADERS)
    seen: set[str] = set()
    for name, value in part.raw_items():
        lowered = name.lower()
        if lowered in _ONCE:
            if lowered in seen:
                raise Refused(_reply(S554_DUPLICATE_HEADER, name=name))
            seen.add(lowered)
        raw = str(value)
        lines = raw.splitlines() or [""]
        if (len(raw) > MAX_HEADER_FIELD or len(name) + 2 + len(lines[0]) > MAX_HEADER_LINE
                or any(len(line) > MAX_HEADER_LINE for line in lines[1:])):
            raise Refused(_reply(S554_LONG_HEADER, name=name))
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        boundary = part.get_boundary() or ""
        if any(boundary.startswith(b) or b.startswith(boundary) for b in boundaries):
            raise Refused(S554_BAD_BOUNDARY)


def check_structure(message: Message, budget: Budget | None = None, depth: int = 0,
                    boundaries: tuple[str, ...] = ()) -> None:
    """Check a message and everything it holds against the limits and `check_part`."""
    budget = budget or Budget()
    budget.enter(depth)
    check_part(message, boundaries)
    if not message.is_multipart():
        return
    if message.get_content_maintype() == "multipart":
        boundaries = (*boundaries, message.get_boundary() or "")
    elif encoding(message) not in _IDENTITY:
        return  # an encoded attached message: parsed and checked when it is decoded
    for child in message.get_payload():
        if isinstance(child, Message):
            check_structure(child, budget, depth + 1, boundaries)


def encoding(part: Message) -> str:
    """The Content-Transfer-Encoding, lower-cased; 7bit when absent."""
    return str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()


class Structure:
    """Refuse nesting and part-count bombs and ambiguous MIME before other steps read parts."""

    async def __call__(self, tx: Transaction) -> None:
        try:
            check_structure(tx.parsed)
        except MALFORMED as exc:
            raise Refused(S554_MALFORMED) from exc
