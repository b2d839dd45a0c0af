"""Scrub one MIME part and all it holds: headers, text, file names, attached mail.

Non-text content (images, PDF) is never touched; text is re-encoded only when it
changed, so an untouched part is delivered exactly as it came.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from email import policy
from email.message import EmailMessage, Message

from relay.content.headers import Keep, content_only, forwarded, scrub_headers
from relay.content.scrub import Scrubber
from relay.replies import S554_MALFORMED, Refused

MAX_LINE = 998  # RFC 5322 §2.1.1: at most 998 octets before the CRLF
_IDENTITY = frozenset({"7bit", "8bit", "binary"})  # RFC 2046 §5.2.1, for message/*
_SEVEN_BIT = policy.default.clone(cte_type="7bit")
_CHUNK = 64 * 1024


def scrub_part(part: Message, scrubber: Scrubber, keep: Keep) -> None:
    """Scrub a part's headers, then its content, descending into multiparts and attached mail."""
    scrub_headers(part, scrubber, keep)
    maintype = part.get_content_maintype()
    if part.is_multipart():
        if maintype == "message":
            _require_identity_encoding(part)
        else:
            part.preamble = _scrub_optional(part.preamble, scrubber)
            part.epilogue = _scrub_optional(part.epilogue, scrubber)
        keep_inside = forwarded if maintype == "message" else content_only
        for child in part.get_payload():
            if isinstance(child, Message):
                scrub_part(child, scrubber, keep_inside)
    elif maintype == "text":
        _scrub_text(part, scrubber)
    elif maintype in ("multipart", "message"):
        # No boundary, or nothing the parser could split: the client shows it as text.
        text = part.get_payload()
        if isinstance(text, str) and scrubber.found(text):
            part.set_payload(scrubber.scrub(text))
    elif _too_long(part):
        _rewrap(part)


def _scrub_text(part: Message, scrubber: Scrubber) -> None:
    """Scrub a text part's decoded content; re-encode it only when it had to change."""
    data = _decoded(part)
    text = _decode(data, part.get_content_charset())
    if scrubber.leaks(data) and not scrubber.found(text):
        text = data.decode("utf-8", "replace")  # the declared charset hid an ASCII address
    clean = scrubber.scrub(text)
    if clean != text or scrubber.leaks(_transported(part)) or _too_long(part):
        _set_text(part, clean)


def _decode(data: bytes, charset: str | None) -> str:
    """Decode as declared, or as UTF-8 (a superset of the RFC 2045 default us-ascii)."""
    if charset in (None, "us-ascii", "ascii"):
        charset = "utf-8"
    try:
        return data.decode(charset, "replace")
    except (LookupError, UnicodeError):
        return data.decode("utf-8", "replace")


def _set_text(part: Message, text: str) -> None:
    """Store `text` as UTF-8 in a 7-bit transfer encoding, keeping the other Content-* headers."""
    fresh = EmailMessage(policy=_SEVEN_BIT)
    fresh.set_content(text, subtype=part.get_content_subtype(), charset="utf-8")
    part.set_payload(fresh.get_payload())
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = str(fresh["Content-Transfer-Encoding"])
    part.set_param("charset", "utf-8")


def _rewrap(part: Message) -> None:
    """Base64 with short lines: same decoded bytes, but SMTP can carry it."""
    data = _decoded(part)
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(data).decode("ascii"))


def _require_identity_encoding(part: Message) -> None:
    """An attached message in base64 or quoted-printable cannot be read, so not scrubbed."""
    if _encoding(part) not in _IDENTITY:
        raise Refused(S554_MALFORMED)


def _decoded(part: Message) -> bytes:
    """The content with its transfer encoding undone."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _transported(part: Message) -> bytes:
    """The content as it travels, transfer encoding and all."""
    if _encoding(part) in ("base64", "quoted-printable"):
        payload = part.get_payload()  # ASCII, so the policy does not decode it by charset
        if isinstance(payload, str):
            return payload.encode("utf-8", "surrogateescape")
    return _decoded(part)  # the identity encodings: the bytes as they came


def _encoding(part: Message) -> str:
    return str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()


def _too_long(part: Message) -> bool:
    return has_long_line(_transported(part))


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


def _scrub_optional(text: str | None, scrubber: Scrubber) -> str | None:
    return None if text is None else scrubber.scrub(text)
