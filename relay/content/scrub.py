"""Find a side's real addresses in text, in whatever disguise, and put the alias in their place.

Senders hide addresses from naive filters, so a match also accepts HTML character
references (`&#64;`, `&#x40;`, `&commat;`), %-escapes (`mailto:a%40b`), full-width
forms (U+FF01 to U+FF5E), spelled-out marks (`[at]`, `(at)`, ` at `, `[dot]`, ` dot `),
invisible characters and tags between the characters, `+tag` subaddresses and any
letter case.
Matching is by substring: `bigseller@shop.example` loses its `seller@shop.example` too,
because a partial match still names the real mailbox.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from html.entities import html5

from relay.replies import S554_MALFORMED, Refused


def _references_by_char() -> dict[str, list[str]]:
    """HTML5 named character references (`commat;`, `period;`) for each character."""
    named: dict[str, list[str]] = {}
    for name, char in html5.items():
        if len(char) == 1:
            named.setdefault(char, []).append(name)
    return named


_NAMED = _references_by_char()

# Zero-width and soft-hyphen characters, as text or references, and markup between
# two characters of an address: a browser renders `sel<b></b>ler` as `seller`.
_GAP = (
    r"(?:[\u00ad\u034f\u200b-\u200f\u2060-\u2064\ufeff]"
    r"|&(?:shy|zwnj|zwj|lrm|rlm|NoBreak|ZeroWidthSpace);"
    r"|&#0*(?:173|820[3-7]|828[89]|829[01]|65279)(?:;|(?![0-9]))"
    r"|&#x0*(?:ad|200[b-f]|206[0-4]|feff)(?:;|(?![0-9a-f]))"
    r"|<[^<>]{0,500}>)*"
)
_AT_LOOKALIKES = ("\uff20", "\ufe6b")  # fullwidth and small commercial at
# Every form of "@" the pattern accepts holds one of these, or one of AT_WORDS once
# lower-cased (then with the domain near), so text with none of them holds no
# address: most plain-text parts are ruled out by a C-level search.
AT_MARKS = ("@", "&", "%", *_AT_LOOKALIKES)
AT_WORDS = ("at", "\uff41t", "a\uff54", "\uff41\uff54")  # "at", its letters full-width or not
# "@" and "." spelled out: "seller [at] shop (dot) example", "seller at shop dot example".
_OPEN, _CLOSE = r"[\[({<\uff3b\uff08\uff5b\uff1c]", r"[\])}>\uff3d\uff09\uff5d\uff1e]"
_SPACE = r"(?:\s|&nbsp;|&#0*160;|&#x0*a0;)"  # any Unicode space, or a no-break space in HTML
_AT = "[a\uff41][t\uff54]"
_DOT = "[d\uff44][o\uff4f][t\uff54]"
_SPELLED = {
    "@": (f"{_SPACE}*{_OPEN}{_SPACE}*{_AT}{_SPACE}*{_CLOSE}{_SPACE}*", f"{_SPACE}+{_AT}{_SPACE}+",
          f"{_SPACE}+@{_SPACE}+"),
    ".": (f"{_SPACE}*{_OPEN}{_SPACE}*(?:{_DOT}|\\.){_SPACE}*{_CLOSE}{_SPACE}*",
          f"{_SPACE}+{_DOT}{_SPACE}+", f"{_SPACE}+\\.{_SPACE}+", "\u3002", "\uff61"),
}
_SUBADDRESS = r"(?:\+[\w.=-]{0,64})?"
_ROUNDS = 3  # a replacement can only create a new match in contrived cases
_CHUNK = 64 * 1024


def _char(c: str) -> str:
    """One character of an address, literally or as an HTML reference or %-escape."""
    forms = {re.escape(c)}
    for variant in {c.lower(), c.upper()}:
        if len(variant) != 1:
            continue
        code = ord(variant)
        forms.add(f"&#0*{code}(?:;|(?![0-9]))")
        forms.add(f"&#x0*{code:x}(?:;|(?![0-9a-f]))")
        if code < 0x80:
            forms.add(f"%{code:02x}")
        forms.update(re.escape("&" + name) for name in _NAMED.get(variant, ()))
        if 0x21 <= code <= 0x7E:  # the full-width form of an ASCII character
            forms.add(re.escape(chr(code + 0xFEE0)))
    if c == "@":
        forms.update(_AT_LOOKALIKES)
    forms.update(_SPELLED.get(c, ()))
    return "(?:" + "|".join(sorted(forms)) + ")"


def _address(address: str) -> str:
    local, at, domain = address.rpartition("@")
    if not at:
        return _GAP.join(map(_char, address))
    return (
        _GAP.join(map(_char, local)) + _SUBADDRESS + _GAP + _char("@") + _GAP
        + _GAP.join(map(_char, domain))
    )


@functools.lru_cache(maxsize=256)
def _compile(addresses: tuple[str, ...]) -> re.Pattern[str]:
    # The lookahead lets the regex engine skip quickly to plausible starts (about 3x).
    starts = {a[0].lower() for a in addresses} | {"&", "%"}
    starts |= {chr(ord(c) + 0xFEE0) for c in starts if 0x21 <= ord(c) <= 0x7E}  # full width
    first = "(?=[" + "".join(re.escape(s) for s in sorted(starts)) + "])"
    longest_first = sorted(addresses, key=len, reverse=True)
    return re.compile(first + "(?:" + "|".join(map(_address, longest_first)) + ")", re.I)


class Scrubber:
    """Replaces every occurrence of some real addresses by one alias."""

    def __init__(self, addresses: Iterable[str], alias: str) -> None:
        unique = dict.fromkeys(a.strip().lower() for a in addresses if a.strip())
        self.alias = alias
        self._needles = tuple(a.encode("utf-8") for a in unique)
        self._pattern = _compile(tuple(unique)) if unique else None
        self._all_have_at = all("@" in a for a in unique)
        # A spelled-out "at" hides an address only next to its domain, written out
        # in plain ASCII unless disguised (non-ASCII, a reference, an escape, markup).
        self._domains = tuple({a.rpartition("@")[2].split(".")[0] for a in unique})

    def _cannot_match(self, text: str) -> bool:
        if not self._all_have_at or any(mark in text for mark in AT_MARKS):
            return False
        lowered = text.lower()
        if not any(word in lowered for word in AT_WORDS):
            return True
        if not text.isascii() or "<" in text:
            return False
        return not any(domain in lowered for domain in self._domains)

    def found(self, text: str) -> bool:
        if self._pattern is None or self._cannot_match(text):
            return False
        return self._pattern.search(text) is not None

    def scrub(self, text: str) -> str:
        if self._pattern is None or self._cannot_match(text):
            return text
        for _ in range(_ROUNDS):
            text, count = self._pattern.subn(lambda _match: self.alias, text)
            if not count:
                return text
        raise Refused(S554_MALFORMED)

    def leaks(self, data: bytes) -> bool:
        """Whether raw bytes still hold an address as plain ASCII, in any case."""
        lowered = data.lower()
        return any(needle in lowered for needle in self._needles)

    def leaks_outside(self, data: bytes, skip: bytes) -> bool:
        """`leaks(data.lower().replace(skip, b""))`, a chunk at a time.

        On a 10 MiB message the lower-cased copy and the cut one are 10 MiB each.
        A `skip` or an address across a chunk's end is carried into the next chunk.
        """
        if not self._needles:
            return False
        overlap = max(map(len, self._needles)) - 1
        hold = max(len(skip) - 1, 0)
        pending = tail = b""
        for start in range(0, len(data), _CHUNK):
            pending += data[start : start + _CHUNK].lower()
            end = len(pending) if start + _CHUNK >= len(data) else len(pending) - hold
            kept, pending = _cut(pending, skip, end)
            text = tail + kept
            if any(needle in text for needle in self._needles):
                return True
            tail = text[max(len(text) - overlap, 0) :]
        return False


def _cut(data: bytes, skip: bytes, end: int) -> tuple[bytes, bytes]:
    """`data` up to `end` with each `skip` starting there cut out, and what is left to read."""
    pieces, pos = [], 0
    while skip and 0 <= (found := data.find(skip, pos)) < end:
        pieces.append(data[pos:found])
        pos = found + len(skip)
    upto = max(pos, end)
    pieces.append(data[pos:upto])
    return b"".join(pieces), data[upto:]
