"""Find web links and email addresses in text as a reader sees it (relay.content.reading).

Links count in the forms people use to slip them past a filter: `hxxp://`,
`http[:]//`, `www.` hosts without a scheme, bare hosts whose suffix is on the
Public Suffix List, and dots written `[.]`, `(dot)`, ` . ` or ` dot `. The list
comes with the `publicsuffixlist` package: nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
_DOT = rf"(?:\.|\s+\.\s+|\s*{_OPEN}\s*(?:\.|dot)\s*{_CLOSE}\s*)"
_SPOKEN_DOT = r"\s+dot\s+"
_ANY_DOT = f"(?:{_DOT}|{_SPOKEN_DOT})"
_PATH = r"(?::\d{1,5})?(?:[/?#][^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]])?"
_SCHEME = r"(?:h[tx]{2}ps?|ftp)\s*(?:\[:\]|:)\s*//"
_SCHEME_RE = re.compile(_SCHEME, re.I)
_HOST = rf"{_LABEL}(?:{_ANY_DOT}{_LABEL})*"
_SCHEMED = re.compile(rf"{_SCHEME}(?:[^\s/?#@<>]*@)?(?P<host>\[[0-9a-f:.]+\]|{_HOST})", re.I)
# A bare host starts a word and has a dot form within a label's length: the lookahead
# turns most words away after one scan of their letters.
_BARE = re.compile(
    rf"(?<![\w@.-])(?=[\w-]{{1,63}}(?:\.[^\W_]|\s+\.\s|\s*{_OPEN}\s*(?:\.|dot)|\s+dot\s))"
    rf"{_LABEL}(?:{_ANY_DOT}{_LABEL})+",
    re.I,
)
_LINK_PATH = re.compile(_PATH, re.I)
_TRAILING_DOT = re.compile(rf"(?:{_ANY_DOT})+\Z", re.I)
# Every dot form holds "." or "dot"; the host's first label ends just before it. A
# literal is found at C speed, a class of characters costs ten times more per character:
# the "dot" scan runs only for text that holds the word.
_PERIOD = re.compile(r"\.")
_DOT_WORD = re.compile(r"[dD][oO][tT]")

# "@" in an address, as written or spelled out; " at " only where the domain's dots are
# spelled out too ("jo at shop dot com") or the name has a dot, digit, "_" or "+"
# ("jo.b at shop.com"), so that "look at shop.com" stays a link. Found from the "@"
# outwards: the name just before it, the domain just after.
_AT_SIGN = re.compile(r"@")  # as _PERIOD and _DOT_WORD: the " at " scan only where "at" is
_AT_WORD = re.compile(r"[aA][tT]")
_LOCAL_BEFORE = re.compile(r"[\w.+-]{1,64}\Z")
_LOCAL_DOTTED_BEFORE = re.compile(rf"[\w+-]{{1,64}}(?:{_ANY_DOT}[\w+-]{{1,64}})+\Z", re.I)
_DOMAIN_AFTER = re.compile(rf"{_LABEL}(?:{_ANY_DOT}{_LABEL})+", re.I)
_ODD_DOT = re.compile(rf"\s+\.\s+|\s*{_OPEN}\s*(?:\.|dot)\s*{_CLOSE}\s*|{_SPOKEN_DOT}", re.I)
_WORD_LOCAL = re.compile(r"[\w.+-]*[.\d_+]")
_WINDOW = 200  # how far before an "@" its name may start (64, spelled out)
# Suffixes that are more often a file's extension than a web site when written bare.
_FILE_LIKE = frozenset({"zip", "mov", "md", "py"})
_STOPWORDS = frozenset({"a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "is", "it"})


@functools.cache
def public_suffix_list() -> PublicSuffixList:
    """The list the package bundles (ICANN and private sections), loaded once on first use."""
    return PublicSuffixList()


def plain_host(written: str) -> str:
    """A host as written ("shop [dot] com", "Shop.COM.") as a lower-case DNS name."""
    host = re.sub(_ANY_DOT, ".", written.strip(), flags=re.I).rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def known_suffix(host: str) -> bool:
    """Whether the host ends in a suffix of the Public Suffix List and has a name below it."""
    return public_suffix_list().privatesuffix(host, accept_unknown=False) is not None


def is_public_suffix(domain: str) -> bool:
    """Whether anyone can register names under `domain` ("com", "co.uk", "blogspot.com")."""
    return public_suffix_list().is_public(domain)


def within(host: str, domains: frozenset[str]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    host: str  # a link's host, an address's domain
    text: str  # what was matched, as read


def links(text: str) -> list[Found]:
    """Web links: anything with a scheme, and bare hosts whose suffix is a real one."""
    found = []
    at = 0
    while "//" in text and (schemed := _SCHEMED.search(text, at)) is not None:  # a scheme ends so
        start, at = schemed.start("host"), schemed.end()
        written = schemed["host"]
        # A next link glued on ("shop.com . https://x") is read on its own, from its scheme.
        glued = _SCHEME_RE.search(text, start + 1, at + _WINDOW)
        if glued is not None and glued.start() < at:
            written, at = _TRAILING_DOT.sub("", text[start : glued.start()]), glued.start()
        host = written.strip("[]")
        found.append(_with_path(text, schemed.start(), start + len(host), plain_host(host)))
    taken = [(f.start, f.end) for f in found] + [(a.start, a.end) for a in addresses_in(text)]
    pos = 0
    for dot in _hints(text, _PERIOD, _DOT_WORD, "dot"):  # each anchors one try
        if dot < pos:
            continue
        match = _BARE.match(text, _word_before(text, dot, pos))
        if match is None:
            continue
        start, end = match.span()
        inside = [e for s, e in taken if s <= start < e]
        if inside:  # part of a link or address already found: read on after it
            pos = max(inside)
            continue
        end = min([end] + [s for s, _ in taken if start < s < end])  # up to the next one
        written = _longest_host(_before_scheme(text[start:end]).rstrip(" \t\r\n."))
        if written is not None:
            found.append(_with_path(text, start, start + len(written), plain_host(written)))
            pos = found[-1].end
    return found


def _hints(text: str, literal: re.Pattern[str], word: re.Pattern[str], lower: str) -> list[int]:
    """Where `literal` or `word` starts in `text`, in order; `word` is sought only if
    `lower`, its lower-case form, is in the lower-cased text."""
    at = [m.start() for m in literal.finditer(text)]
    if lower in text.lower():
        at = sorted(at + [m.start() for m in word.finditer(text)])
    return at


def _word_before(text: str, at: int, floor: int) -> int:
    """Where the label before a dot form at `at` starts ("shop" in "shop [.] com")."""
    i = at
    while i > floor and text[i - 1].isspace():
        i -= 1
    if i > floor and text[i - 1] in "[({<":
        i -= 1
        while i > floor and text[i - 1].isspace():
            i -= 1
    end = i
    while i > floor and end - i < 63 and (text[i - 1].isalnum() or text[i - 1] in "_-"):
        i -= 1
    return i if i < end else at


def _before_scheme(written: str) -> str:
    """A host as far as a glued-on next link: "shop.comhttps://x" holds "shop.com"."""
    glued = _SCHEME_RE.search(written, 1)
    return written if glued is None else written[: glued.start()]


def _with_path(text: str, start: int, end: int, host: str) -> Found:
    path = _LINK_PATH.match(text, end)
    end = path.end() if path else end
    return Found(start, end, host, text[start:end])


def _longest_host(written: str) -> str | None:
    """The longest start of `written`, cut at a dot, that is a host ("shop.com . x")."""
    cuts = [len(written)] + [d.start() for d in reversed(list(re.finditer(_ANY_DOT, written,
                                                                          re.I)))]
    for end in cuts:
        if _bare_host(written[:end], plain_host(written[:end])):
            return written[:end]
    return None


def _bare_host(written: str, host: str) -> bool:
    """A host with no scheme counts if it starts with www. or ends in a real suffix."""
    if "." not in host:
        return False
    if host.startswith("www.") and "." in host[4:]:
        return True
    suffix = host.rpartition(".")[2]
    if suffix in _FILE_LIKE or not known_suffix(host):
        return False
    spoken = re.search(_SPOKEN_DOT, written, re.I) is not None
    return not (spoken and host.split(".")[0] in _STOPWORDS)


def addresses_in(text: str) -> list[Found]:
    """Email addresses, with "@" and "." as written or spelled out."""
    found = []
    for hit in _hints(text, _AT_SIGN, _AT_WORD, "at"):
        mark = _mark(text, hit, hit + (text[hit] != "@") + 1)
        if mark is None:
            continue
        mark_start, mark_end, word = mark
        before = text[max(mark_start - _WINDOW, 0) : mark_start]
        local = _LOCAL_BEFORE.search(before)
        domain = _DOMAIN_AFTER.match(text, mark_end)
        if local is None or domain is None:
            continue
        start = mark_start - len(before) + local.start()
        if start > 0 and (text[start - 1] in ".+-" or text[start - 1].isalnum()):
            continue  # a name longer than any mailbox's
        host = plain_host(domain[0])
        if word and not _ODD_DOT.search(domain[0]):  # "jo at shop.com"
            dotted = _LOCAL_DOTTED_BEFORE.search(before)
            if dotted is not None:
                start = mark_start - len(before) + dotted.start()
            elif not _WORD_LOCAL.match(local[0]):
                continue
            if not known_suffix(host):
                continue
        if "." in host and not text.endswith("//", 0, start):  # not a URL's user
            found.append(Found(start, domain.end(), host, text[start : domain.end()]))
    return found


def _mark(text: str, start: int, end: int) -> tuple[int, int, bool] | None:
    """The whole "@" around a hit, spaces and brackets included, and whether it is " at "."""
    before, after = start, end
    while before > 0 and text[before - 1].isspace():
        before -= 1
    while after < len(text) and text[after].isspace():
        after += 1
    if text[start] == "@":
        return before, after, False
    if before > 0 and after < len(text) and text[before - 1] in "[({<" and text[after] in "])}>":
        before, after = before - 1, after + 1
        while before > 0 and text[before - 1].isspace():
            before -= 1
        while after < len(text) and text[after].isspace():
            after += 1
        return before, after, False
    if before < start and after > end:
        return before, after, True
    return None


def address_of(found: Found) -> str:
    """The address a match spells, lower-case, without a +subaddress."""
    local = re.split(r"\s*@\s*|\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+", found.text,
                     maxsplit=1, flags=re.I)[0]
    local = re.sub(_ANY_DOT, ".", local, flags=re.I)
    return f"{local.split('+')[0].lower()}@{found.host}"


def url_host(url: str) -> str | None:
    """The host a browser would go to for an href, or None if it names none."""
    url = url.strip().replace("\\", "/")
    if url.startswith("//"):
        url = "https:" + url
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return plain_host(host) if host else None
