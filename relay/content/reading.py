"""Text as a reader sees it, with the way back to where each piece was written.

Filters are dodged by writing a link or an address in a form a person still
reads: `www&#46;shop&#46;com`, `%77ww.shop.com`, full-width letters, invisible
characters, markup between letters. `Reading` decodes those forms once, so the
finders match plain text, and maps what they find back to the original span,
so a step can cut exactly that.
"""

from __future__ import annotations

import bisect
import functools
import html
import re
import unicodedata
from dataclasses import dataclass

_INVISIBLE = "[\u00ad\u034f\u200b-\u200f\u2060-\u2064\ufeff]"
_TOKENS = (
    r"&(?:amp;){0,3}(?:#[0-9]{1,7};?|#x[0-9a-f]{1,6};?|[a-z][a-z0-9]{1,31};?)"  # references,
    # also escaped again ("&amp;#46;" shows as "&#46;", which a reader decodes)
    r"|%[0-9a-f]{2}"  # %-escapes
    rf"|{_INVISIBLE}"
    r"|[\u3000\u3002\uff01-\uff5e\uff61]"  # full-width forms, ideographic space and stops
)
_PLAIN = re.compile(_TOKENS, re.I)
# In HTML, markup too: a tag is read as nothing, or as a space where it breaks a line or cell.
_HTML = re.compile(r"<(?:[^\">]|\"[^\"]*\")*>|" + _TOKENS, re.I)
_BREAKS = re.compile(r"</?(?:p|div|br|li|ul|ol|tr|td|th|table|h\d|hr|blockquote|pre|dd|dt)\b",
                     re.I)


@functools.lru_cache(maxsize=4096)  # markup repeats: the same tags, the same references
def _decode(token: str, tag: str) -> str:
    first = token[0]
    if first == "<":
        return " " if _BREAKS.match(token) else tag
    if first == "&":
        while token.startswith("&amp;") and len(token) > 5:
            token = "&" + token[5:]
        return html.unescape(token)
    if first == "%":
        char = chr(int(token[1:], 16))
        return char if char.isprintable() and char.isascii() else token
    if re.fullmatch(_INVISIBLE, token):
        return ""
    return unicodedata.normalize("NFKC", token).replace("\u3002", ".").replace("\uff61", ".")


@dataclass(frozen=True)
class Reading:
    """`text` is what a reader sees; `original` maps its spans back to the source."""

    source: str
    text: str
    _read_at: tuple[int, ...]  # where each decoded token starts in `text`
    _tokens: tuple[tuple[int, int, int], ...]  # (its length in `text`, source start, source end)

    @classmethod
    def of(cls, source: str, *, is_html: bool = False, tag: str = "") -> Reading:
        """Read `source`; in HTML an inline tag reads as `tag` ("" joins the letters around it)."""
        if not is_html and source.isascii() and "&" not in source and "%" not in source:
            return cls(source, source, (), ())  # nothing to decode: most plain text
        pattern = _HTML if is_html else _PLAIN
        pieces: list[str] = []
        read_at: list[int] = []
        tokens: list[tuple[int, int, int]] = []
        done = length = 0
        for match in pattern.finditer(source):
            start, end = match.span()
            decoded = _decode(match[0], tag)
            if decoded == match[0]:
                continue
            pieces.append(source[done:start])
            length += start - done
            read_at.append(length)
            tokens.append((len(decoded), start, end))
            pieces.append(decoded)
            length += len(decoded)
            done = end
        pieces.append(source[done:])
        return cls(source, "".join(pieces), tuple(read_at), tuple(tokens))

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the source that reads as text[start:end]."""
        return self._position(start, at_end=False), self._position(end, at_end=True)

    def _position(self, pos: int, *, at_end: bool) -> int:
        i = bisect.bisect_right(self._read_at, pos - 1 if at_end else pos) - 1
        if i < 0:
            return pos
        length, source_start, source_end = self._tokens[i]
        inside = pos - self._read_at[i]
        if inside < length or (at_end and inside == length):
            return source_end if at_end else source_start
        return source_end + inside - length

    def spans(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The source spans that read as these spans of `text`."""
        return [self.original(start, end) for start, end in spans]


def readings(source: str, *, is_html: bool) -> tuple[Reading, ...]:
    """How a reader may see the text: in HTML, an inline tag may join words or part them."""
    if not is_html:
        return (Reading.of(source),)
    return Reading.of(source, is_html=True), Reading.of(source, is_html=True, tag=" ")


def cut(source: str, spans: list[tuple[int, int]], replacement: str) -> str:
    """`source` with each of the (source) spans replaced; overlapping spans are merged."""
    out, done = [], 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start < done:  # overlaps the previous cut: extend it
            done = end
            continue
        out += [source[done:start], replacement]
        done = end
    out.append(source[done:])
    return "".join(out)
