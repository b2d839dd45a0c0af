"""Rewrite a message for the other party: alias in From, allowlisted headers, no real address.

The message is rebuilt, not copied (relay.content.parts). SPEC §2.4's invariant
is checked once more on the finished bytes: if a real address of the sender
survived anyway, the message is refused, never delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email import policy
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.policy import Policy
from io import BytesIO

from relay.addresses import MESSAGE_ID
from relay.content.names import clean_text
from relay.content.parts import Headers, Rebuilder, TextHook, Written
from relay.content.scrub import Scrubber
from relay.content.structure import MALFORMED
from relay.message import WRITING
from relay.model import Route
from relay.replies import S554_MALFORMED, Refused

MAX_LINE = 998  # RFC 5322 §2.1.1: at most 998 octets before the CRLF
_CHUNK = 64 * 1024


def rewrite(
    message: EmailMessage,
    route: Route,
    *,
    message_id: str,
    in_reply_to: list[str],
    references: list[str],
    domain: str = "",
    hooks: Sequence[TextHook] = (),
) -> bytes:
    """The message as the recipient gets it: RFC 5322 bytes with CRLF line endings.

    `message` itself is left as it was. `domain` is the relay's, for Content-IDs
    (the alias domain when not given); `hooks` see each text part (TextHook).
    Raises Refused(S554_MALFORMED) when the message cannot be read well enough
    to be sure no real address is left, or a more specific 554 for its structure.
    """
    recipient = route.recipient.lower()
    scrubber = Scrubber((a for a in route.sender_addresses if a.lower() != recipient),
                        route.sender_alias)
    domain = domain or route.sender_alias.rpartition("@")[2]
    try:
        builder = Rebuilder(scrubber, domain, hooks, WRITING)
        top: Headers = [*_address(route, scrubber), *builder.kept(message, ("subject", "date"))]
        if "Date" not in (name for name, _value in top):
            top.append(("Date", datetime.now(UTC)))
        top += _thread(scrubber, message_id, in_reply_to, references)
        top.append(("MIME-Version", "1.0"))
        data = _serialise(builder.part(message, top))
    except MALFORMED as exc:
        raise Refused(S554_MALFORMED) from exc
    if scrubber.leaks_outside(data, recipient.encode("utf-8")):
        raise Refused(S554_MALFORMED)
    if has_long_line(data, _crlf_lines):
        raise Refused(S554_MALFORMED)
    return data


def _crlf_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


_SMTP = policy.SMTP.clone(header_factory=WRITING.header_factory)


def _serialise(message: EmailMessage) -> bytes:
    """`message.as_bytes(policy=policy.SMTP)`, written by `_Generator`."""
    out = BytesIO()
    _Generator(out, mangle_from_=False, policy=_SMTP).flatten(message)
    return out.getvalue()


class _Generator(BytesGenerator):
    """A BytesGenerator that writes a payload whole when its lines already end in CRLF.

    The stdlib writes every payload line by line, to give each line the policy's
    ending: for a large attachment that is most of the time spent serialising.
    Payloads relay encoded itself are bytes in CRLF lines (relay.content.parts),
    written as they are, without the stdlib's three passes over them as text.
    """

    def _handle_text(self, msg: Message) -> None:
        if isinstance(msg, Written) and not msg.is_multipart():
            self._fp.write(msg.encoded)  # type: ignore[attr-defined]  # the stdlib's own field
        else:
            super()._handle_text(msg)  # type: ignore[misc]  # private in the stdlib, untyped

    _writeBody = _handle_text  # what the stdlib calls for every other leaf type

    def _write_lines(self, lines: str) -> None:
        crlf = lines.count("\r\n")
        if (self.policy is not None and self.policy.linesep == "\r\n"
                and lines.count("\r") == crlf == lines.count("\n")):
            self.write(lines)
        else:
            super()._write_lines(lines)  # type: ignore[misc]  # private in the stdlib, untyped


def _address(route: Route, scrubber: Scrubber) -> Headers:
    """From is the store's name at the sender's alias; To is the recipient alone."""
    name = clean_text(scrubber.scrub(route.sender_name))
    return [("From", Address(display_name=name, addr_spec=route.sender_alias)),
            ("To", Address(addr_spec=route.recipient))]


def _thread(
    scrubber: Scrubber, message_id: str, in_reply_to: list[str], references: list[str],
) -> Headers:
    out: Headers = []
    for name, ids in (("Message-ID", [message_id]), ("In-Reply-To", in_reply_to),
                      ("References", references)):
        valid = [scrubber.scrub(i) for i in ids if MESSAGE_ID.fullmatch(i)]
        if valid:
            out.append((name, _MessageIds(name, valid)))
    return out


def has_long_line(data: bytes, lines: Callable[[bytes], list[bytes]] = bytes.splitlines) -> bool:
    """Whether a line, as `lines` splits them, is longer than MAX_LINE.

    Split at once, 10 MiB of base64 takes 1.6 times its size again in line
    objects; a chunk at a time it takes 64 KiB. Chunks end after a CRLF, where a
    line ends whether `lines` splits at CRLF only or at any CR or LF.
    """
    start = 0
    while start < len(data):
        found = data.find(b"\r\n", start + _CHUNK)
        end = len(data) if found < 0 else found + 2
        if max(map(len, lines(data[start:end])), default=0) > MAX_LINE:
            return True
        start = end
    return False


class _MessageIds(str):
    """A header of Message-IDs, one per line.

    The stdlib folder turns an ID longer than a line into encoded words, which no
    mail client matches any more; a header object with its own `fold` is the
    documented way around it (see EmailPolicy.fold).
    """

    name: str

    def __new__(cls, name: str, ids: list[str]) -> _MessageIds:
        header = super().__new__(cls, " ".join(ids))
        header.name = name
        return header

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: {(policy.linesep + ' ').join(self.split())}{policy.linesep}"
