"""Content-Transfer-Encoding both ways: strict decoding of what came, relay's own encoding out.

Decoding is strict where readers disagree (base64 with bad padding or stray
characters, uuencode, unknown encodings): such a part is `Undecodable`, and the
rewrite removes it with a note rather than guess. The decoded bytes of a part are
kept for the part's lifetime, so the steps that judge a large attachment and the
rewrite that re-encodes it decode it once.
"""

from __future__ import annotations

import base64
import binascii
from email.message import Message
from weakref import WeakKeyDictionary

from relay.content.structure import encoding

_IDENTITY = frozenset({"7bit", "8bit", "binary"})
_WHITESPACE = b" \t\r\n"
_ASCII = bytes(range(128))
_LINE = 76  # RFC 2045 §6.7/§6.8: at most 76 characters per encoded line
_decoded: WeakKeyDictionary[Message, bytes] = WeakKeyDictionary()


class Undecodable(Exception):
    """A part whose content cannot be read with certainty; the message says why."""


def content(part: Message) -> bytes:
    """A leaf part's content with its transfer encoding undone (computed once per part)."""
    data = _decoded.get(part)
    if data is None:
        data = _decoded[part] = _decode(part)
    return data


def forget(part: Message) -> None:
    """A step changed the part's content: decode it anew when next asked."""
    _decoded.pop(part, None)


def _decode(part: Message) -> bytes:
    cte = encoding(part)
    if cte in _IDENTITY or cte == "quoted-printable":
        # Quoted-printable is lenient by design (RFC 2045 §6.7): readers agree on it.
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    payload = part.get_payload()
    if not isinstance(payload, str):
        raise Undecodable("it could not be decoded")
    if cte == "base64":
        try:
            data = payload.encode("ascii").translate(None, _WHITESPACE)
            if len(data) % 4:  # strict mode lets a stray "=" after a whole group through
                raise ValueError("incomplete base64")
            return binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError) as exc:  # UnicodeError is a ValueError
            raise Undecodable("its base64 encoding is damaged") from exc
    if "uu" in cte:
        raise Undecodable("uuencoded content is not passed on")
    raise Undecodable("its transfer encoding is unknown")


def base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF."""
    encoded = base64.b64encode(data)
    lines = [encoded[i : i + _LINE] for i in range(0, len(encoded), _LINE)]
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


def encode_text(text: str) -> tuple[str, bytes]:
    """(transfer encoding, CRLF lines) for text as UTF-8: quoted-printable unless mostly non-ASCII.

    Quoted-printable keeps Latin-script text readable in the raw; once a third of
    the bytes need escaping (three characters each) base64 is much smaller.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    data = lines.encode("utf-8", "replace")
    if data.isascii() or len(data.translate(None, _ASCII)) * 3 < len(data):
        qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
        return "quoted-printable", qp.replace(b"\n", b"\r\n")
    return "base64", base64_lines(data)
