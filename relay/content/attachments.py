"""Attachments: allowed by content and name, free of active content, within a total size.

Each attachment is decoded once (relay.content.transfer keeps the bytes for the
rewrite, which encodes them again), judged, and given the Content-Type its
content shows, so the recipient's client opens what was checked. Text
attachments are rewritten like any text part; body text (a text part with no
name, not marked as an attachment) is no attachment. Parts the rewrite removes
with a note (undecodable ones, vCards, keys and signatures) are not judged here.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from email.errors import MessageError
from email.message import Message
from email.utils import collapse_rfc2231_value

from relay.content.carriers import carries_contact
from relay.content.filetypes import DOCX, OLE, PPTX, XLSX, Disallowed, Sniffer, judge
from relay.content.names import clean_filename
from relay.content.office import check_ole, check_package
from relay.content.pdf import check_pdf
from relay.content.scrub import Scrubber
from relay.content.structure import encoding
from relay.content.transfer import Undecodable, content
from relay.message import Transaction, decode_words
from relay.replies import S550_ATTACHMENT, S552_ATTACHMENTS_TOO_BIG, S554_MALFORMED, Refused

# What the stdlib email package raises on input it cannot walk (as in relay.content.rewrite).
_MALFORMED = (MessageError, ValueError, LookupError, IndexError, KeyError, TypeError,
              AttributeError, RecursionError)
_UNREADABLE = (*_MALFORMED, zlib.error, struct.error, OverflowError)
_SHOWN = 60  # characters of a file name quoted back in a reply line


class Attachments:
    """Refuse, naming the file, an attachment that is not allowed (SPEC §2.3)."""

    def __init__(self, types: Iterable[str], max_bytes: int) -> None:
        self._allowed = frozenset(t.strip().lower().lstrip(".") for t in types)
        self._max = max_bytes
        self._sniffer = Sniffer()

    async def __call__(self, tx: Transaction) -> None:
        assert tx.route is not None
        try:
            found = [part for part in _leaves(tx.parsed) if _is_attachment(part)]
        except _MALFORMED as exc:
            raise Refused(S554_MALFORMED) from exc
        if not found:
            return
        recipient = tx.route.recipient.lower()
        scrubber = Scrubber((a for a in tx.route.sender_addresses if a.lower() != recipient),
                            tx.route.sender_alias)
        total = 0
        for part in found:
            names = _names(part)
            shown = _shown(names[0] if names else "(no name)")
            self._within(total + _least(part), shown)  # before decoding what cannot fit
            try:
                data = content(part)
            except Undecodable:
                continue
            if carries_contact(part, names[0] if names else "", data):
                continue
            total += len(data)
            self._within(total, shown)
            try:
                delivered = judge(self._sniffer.sniff(data), names, self._allowed, data)
                _inspect(delivered, data, scrubber)
            except Disallowed as exc:
                raise Refused(S550_ATTACHMENT.but(
                    f'The attachment "{shown}" is not allowed: {exc}')) from exc
            except _UNREADABLE as exc:  # a reader's slip on hostile bytes: refused, not retried
                raise Refused(S550_ATTACHMENT.but(
                    f'The attachment "{shown}" is not allowed: it could not be checked')) from exc
            _label(part, delivered)


    def _within(self, total: int, shown: str) -> None:
        if total > self._max:
            raise Refused(S552_ATTACHMENTS_TOO_BIG.but(
                f'The attachment "{shown}" brings the attachments past the'
                f" {_size(self._max)} this relay accepts"))


def _least(part: Message) -> int:
    """The fewest bytes a base64 part decodes to, read off its text: 3 per 4 characters.

    The decoder is strict (relay.content.transfer), so every other character makes
    the part undecodable rather than smaller.
    """
    payload = part.get_payload()
    if not isinstance(payload, str) or encoding(part) != "base64":
        return 0
    spaces = sum(map(payload.count, " \t\r\n"))
    return max((len(payload) - spaces) * 3 // 4 - 2, 0)


def _inspect(delivered: str, data: bytes, scrubber: Scrubber) -> None:
    """What only a format's own reader finds: macros, scripts, the sender's address."""
    if delivered == "application/pdf":
        check_pdf(data, scrubber)
    elif delivered in (DOCX, XLSX, PPTX):
        check_package(data, delivered, scrubber)
    elif delivered in OLE:
        check_ole(data, delivered, scrubber)


def _leaves(message: Message) -> Iterator[Message]:
    for part in message.walk():
        if not part.is_multipart():
            yield part


def _is_attachment(part: Message) -> bool:
    """Any file, inline or not; text is one only when named or marked as an attachment."""
    maintype = part.get_content_maintype()
    if maintype in ("multipart", "message"):
        return False  # unsplit containers are read as text by the rewrite
    if maintype != "text":
        return True
    return part.get_content_disposition() == "attachment" or bool(_names(part))


def _names(part: Message) -> list[str]:
    """Every name the part gives its file, as a client shows it: clients differ on which
    of the two they use, and decode encoded words in them though RFC 2047 §5 says not to."""
    found = []
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        value = part.get_param(param, header=header)
        if value:
            name = collapse_rfc2231_value(value)
            if "=?" in name:
                name = decode_words(name) or name
            found.append(clean_filename(name))
    return found


def _label(part: Message, delivered: str) -> None:
    """The judged type replaces the sender's label (the rewrite writes the rest anew)."""
    charset = part.get_param("charset")
    del part["Content-Type"]
    part["Content-Type"] = delivered
    if charset and delivered.startswith("text/"):
        part.set_param("charset", collapse_rfc2231_value(charset))


def _shown(name: str) -> str:
    """A file name safe in a reply line: printable ASCII, no quotes, not too long."""
    clean = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in name)
    return clean if len(clean) <= _SHOWN else clean[: _SHOWN - 3] + "..."


def _size(limit: int) -> str:
    mib = limit / (1 << 20)
    return f"{mib:g} MiB" if mib >= 1 else f"{limit} bytes"
