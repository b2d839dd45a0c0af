"""PDF attachments: no JavaScript or launch action, no sender's address in their text.

A bounded scan of the file and of its inflated streams, not a PDF renderer.
Names are compared after undoing `#xx` escapes (`/J#61vaScript` is `/JavaScript`);
object streams are inflated, so nothing hides in them. Image and font streams
are skipped: pixels and glyph programs hold no names a reader acts on, and no
text that can be read without OCR. Whatever the scan
cannot read (encryption, an unknown filter on a non-image stream, more than
`INFLATE_BUDGET` inflated) is refused, because active content cannot be ruled out.
The address search reads the first `TEXT_BUDGET` of string text and every byte
inflated; text drawn with a font whose codes are not characters reads as nothing.
"""

from __future__ import annotations

import re
import zlib
from base64 import a85decode
from collections.abc import Iterator

from relay.content.filetypes import Disallowed
from relay.content.office import ADDRESS
from relay.content.scrub import Scrubber

INFLATE_BUDGET = 32 << 20  # inflated bytes per file: 3x the largest file accepted
TEXT_BUDGET = 1 << 20  # string text searched for addresses: several hundred pages
_SPACE = b"\x00\t\n\x0c\r "
_DELIM = rb"\x00\t\n\x0c\r ()<>\[\]{}/%"
_ACTIVE = re.compile(rb"/(?:JS|JavaScript|Launch)(?![^" + _DELIM + rb"])")
_ESCAPED_NAME = re.compile(rb"/[^" + _DELIM + rb"]*#[0-9A-Fa-f]{2}[^" + _DELIM + rb"]*")
_ACTIVE_NAMES = frozenset({b"/JS", b"/JavaScript", b"/Launch"})
_STREAM = re.compile(rb"stream(?:\r\n|\n|\r)")
_LENGTH = re.compile(rb"/Length\s+(\d{1,10})(?!\s+\d+\s+R)")
_FILTERS = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[^" + _DELIM + rb"]+)")
_NAME = re.compile(rb"/([^" + _DELIM + rb"]+)")
# Streams no reader takes names or text from: images, cross-reference tables, font
# programs (ISO 32000-1 §9.9: /Length1-3, or a compact font format) and embedded
# files' bytes. Scanned, their random bytes would spell "/JS" sooner or later.
_SKIPPED = re.compile(
    rb"/Subtype\s*/(?:Image|Type1C|CIDFontType0C|OpenType)\b|/Type\s*/(?:XRef|EmbeddedFile)\b"
    rb"|/Length[123]\b"
)
# An object stream (§7.5.7) holds objects, actions among them: readers find it by the
# cross-reference entries and its /N and /First, not by any other key of its dictionary.
_OBJECTS = re.compile(rb"/First\b|/ObjStm\b")
_IMAGE_FILTERS = frozenset({b"DCTDecode", b"DCT", b"JPXDecode", b"JBIG2Decode",
                            b"CCITTFaxDecode", b"CCF"})
# Literal strings (one level of nested parentheses, as producers write them) and hex
# strings, searched apart: a pattern that starts with one literal byte is searched fast.
_LITERAL = re.compile(rb"\((?:[^()\\]++|\\.|\((?:[^()\\]|\\.)*\))*\)", re.DOTALL)
_HEX = re.compile(rb"<([0-9A-Fa-f\s]+)>")  # "<<" never matches: "<" is no hex digit
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.DOTALL)
_OCTAL = frozenset(bytes([c]) for c in b"01234567")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"\n": b""}
_UNREADABLE = "it could not be checked for active content"
_ACTIVE_CONTENT = "it contains JavaScript or an action that starts a program"


def check_pdf(data: bytes, scrubber: Scrubber) -> None:
    """Raise Disallowed for active content, encryption, or the sender's address."""
    text = _Text(scrubber)
    for chunk, drawn in _readable(data):
        if _active(chunk):
            raise Disallowed(_ACTIVE_CONTENT)
        if scrubber.leaks(chunk) or (text.add(chunk) if drawn else _stored(chunk, scrubber)):
            raise Disallowed(ADDRESS)


def _stored(chunk: bytes, scrubber: Scrubber) -> bool:
    """The address in what lies between streams (metadata, links): escaped or in UTF-16.

    Text is drawn only inside streams, so here a cheap reading is enough, and it
    does not make a large damaged file cost a string parse.
    """
    flat = chunk.replace(b"\\100", b"@").replace(b"\\\r\n", b"").replace(b"\\\n", b"")
    if scrubber.leaks(flat.replace(b"\\", b"")):
        return True
    return any(scrubber.found(_hex_string(match.group(1))) for match in _HEX.finditer(chunk))


def _readable(data: bytes) -> Iterator[tuple[bytes, bool]]:
    """Each non-image stream decoded, within INFLATE_BUDGET, then all that is not a stream;
    each with whether it may draw text."""
    if _has_name(data, b"/Encrypt"):
        raise Disallowed("it is encrypted, so it cannot be checked")
    budget, outside, done = INFLATE_BUDGET, [], 0
    for match in _STREAM.finditer(data):
        if match.start() < done or data[match.start() - 3 : match.start()] == b"end":
            continue  # the word inside a stream already read, or the end of one
        head = _normalised(data[max(match.start() - 4096, done) : match.start()])
        head = head[head.rfind(b"obj") + 3 :]
        body = _body(data, match.end(), head)
        outside.append(data[done : match.start()])
        done = match.end() + len(body)
        filters = _filters(head)
        objects = _OBJECTS.search(head) is not None  # never skipped, whatever else it says
        if not objects and (_SKIPPED.search(head) or _IMAGE_FILTERS & set(filters)):
            continue
        if b"/Predictor" in head and filters:
            raise Disallowed(_UNREADABLE)
        decoded = _decode(body, filters, budget)
        budget -= len(decoded)
        yield decoded, True
    outside.append(data[done:])
    yield b"".join(outside), False


def _decode(body: bytes, filters: list[bytes], budget: int) -> bytes:
    for name in filters:
        if name in (b"FlateDecode", b"Fl"):
            body = _inflate(body, budget)
        elif name in (b"ASCIIHexDecode", b"AHx"):
            hexa = re.sub(rb"[^0-9A-Fa-f]", b"", body.partition(b">")[0])
            body = bytes.fromhex((hexa + b"0" * (len(hexa) % 2)).decode())
        elif name in (b"ASCII85Decode", b"A85"):
            try:
                body = a85decode(body.strip().removesuffix(b"~>"), ignorechars=_SPACE)
            except ValueError as exc:
                raise Disallowed(_UNREADABLE) from exc
        else:  # LZW, RunLength, Crypt: rare outside images, and nothing reads them here
            raise Disallowed(_UNREADABLE)
    return body


def _inflate(body: bytes, budget: int) -> bytes:
    """Inflate at most `budget` bytes; a damaged stream gives what it had, as readers do."""
    inflater, out = zlib.decompressobj(), bytearray()
    for start in range(0, len(body), 16384):
        try:
            out += inflater.decompress(body[start : start + 16384], budget - len(out) + 1)
        except zlib.error:
            break
        if len(out) > budget or inflater.unconsumed_tail:
            raise Disallowed("it is too large to be checked when unpacked")
        if inflater.eof:
            break
    return bytes(out)


def _body(data: bytes, start: int, head: bytes) -> bytes:
    """The stream's bytes: by its direct /Length when `endstream` follows, else to `endstream`."""
    length = _LENGTH.search(head)
    if length is not None:
        end = start + int(length.group(1))
        if data[end : end + 12].lstrip(b"\r\n \t").startswith(b"endstream"):
            return data[start:end]
    end = data.find(b"endstream", start)
    return data[start : end if end >= 0 else len(data)]


def _filters(head: bytes) -> list[bytes]:
    found = _FILTERS.search(head)
    if found is None and b"/Filter" in head:  # an indirect filter: nothing says what it is
        raise Disallowed(_UNREADABLE)
    return [] if found is None else _NAME.findall(found.group(1))


def _normalised(chunk: bytes) -> bytes:
    """Names with their `#xx` escapes undone (ISO 32000-1 §7.3.5)."""
    return _ESCAPED_NAME.sub(lambda m: _unescape_name(m.group()), chunk)


def _unescape_name(name: bytes) -> bytes:
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), name)


def _has_name(chunk: bytes, name: bytes) -> bool:
    plain = re.compile(re.escape(name) + rb"(?![^" + _DELIM + rb"])")
    return plain.search(chunk) is not None or any(
        plain.fullmatch(_unescape_name(m)) for m in _ESCAPED_NAME.findall(chunk)
    )


def _active(chunk: bytes) -> bool:
    return _ACTIVE.search(chunk) is not None or any(
        _unescape_name(m) in _ACTIVE_NAMES for m in _ESCAPED_NAME.findall(chunk)
    )


class _Text:
    """The strings a PDF draws or stores, joined, searched until TEXT_BUDGET is read."""

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._left = TEXT_BUDGET

    def add(self, chunk: bytes) -> bool:
        if self._left <= 0:
            return False  # past the bound: accepted unread, see the module docstring
        found = [(m.start(), _literal(m.group())) for m in _LITERAL.finditer(chunk)]
        found += [(m.start(), _hex_string(m.group(1))) for m in _HEX.finditer(chunk)]
        pieces = []
        for _start, piece in sorted(found):
            pieces.append(piece)
            self._left -= len(piece)
            if self._left <= 0:
                break
        return self._scrubber.found("".join(pieces))


def _literal(string: bytes) -> str:
    return _text(_ESCAPE.sub(_unescape_string, string[1:-1]))


def _hex_string(digits: bytes) -> str:
    hexa = re.sub(rb"\s", b"", digits)
    return _text(bytes.fromhex((hexa + b"0" * (len(hexa) % 2)).decode()))


def _text(raw: bytes) -> str:
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", "replace")
    return raw.decode("latin-1")


def _unescape_string(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code[:1] in _OCTAL:
        return bytes([int(code, 8) & 0xFF])
    return _ESCAPES.get(code, code)
