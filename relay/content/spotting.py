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
# A bare host's label stops where a scheme starts: "shop.comhttps://x" holds "shop.com".
_BARE_LABEL = rf"(?!{_SCHEME})[^\W_](?:(?!{_SCHEME})[\w-]){{0,62}}(?<!-)"
_LINK = re.compile(
    rf"(?P<scheme>{_SCHEME})(?:[^\s/?#@<>]*@)?"
    rf"(?P<host>\[[0-9a-f:.]+\]|{_BARE_LABEL}(?:{_ANY_DOT}{_BARE_LABEL})*)"
    rf"|(?<![\w@.-])(?P<bare>{_BARE_LABEL}(?:{_ANY_DOT}{_BARE_LABEL})+)",
    re.I,
)
_LINK_PATH = re.compile(_PATH, re.I)
# "@" in an address, as written or spelled out; " at " only where the domain's dots are
# spelled out too ("jo at shop dot com") or the name has a dot, digit, "_" or "+"
# ("jo.b at shop.com"), so that "look at shop.com" stays a link.
_LOCAL = r"(?<![\w.+-])[\w.+-]{1,64}"
_ODD_DOT = rf"(?:\s+\.\s+|\s*{_OPEN}\s*(?:\.|dot)\s*{_CLOSE}\s*|{_SPOKEN_DOT})"
_HOST_SPELLED = rf"{_LABEL}(?:{_ANY_DOT}{_LABEL})*{_ODD_DOT}"
_LOCAL_DOTTED = rf"(?<![\w.+-])[\w+-]{{1,64}}(?:{_ANY_DOT}[\w+-]{{1,64}})+"
_ADDRESS = re.compile(
    rf"{_LOCAL}(?:\s*@\s*|\s*{_OPEN}\s*at\s*{_CLOSE}\s*)(?P<d1>{_LABEL}(?:{_ANY_DOT}{_LABEL})+)"
    rf"|{_LOCAL}\s+at\s+(?P<d2>{_HOST_SPELLED}{_LABEL}(?:{_ANY_DOT}{_LABEL})*)"
    rf"|(?:{_LOCAL_DOTTED}|(?<![\w.+-])(?=[\w+-]*[\d_+])[\w+-]{{1,64}})"
    rf"\s+at\s+(?P<d3>{_LABEL}(?:{_ANY_DOT}{_LABEL})+)",
    re.I,
)
# Suffixes that are more often a file's extension than a web site when written bare.
_FILE_LIKE = frozenset({"zip", "mov", "md", "py"})
_STOPWORDS = frozenset({"a", "an", "the", "and", "or", "of", "to", "in", "on", "at", "is", "it"})


@functools.cache
def _psl() -> PublicSuffixList:
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
    return _psl().privatesuffix(host, accept_unknown=False) is not None


def is_public_suffix(domain: str) -> bool:
    """Whether anyone can register names under `domain` ("com", "co.uk", "blogspot.com")."""
    return _psl().is_public(domain)


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
    addresses = [(a.start, a.end) for a in addresses_in(text)]
    found = []
    for match in _LINK.finditer(text):
        if match["bare"] and any(s < match.end() and match.start() < e for s, e in addresses):
            continue
        end = match.end()
        if match["host"]:
            host = plain_host(match["host"].strip("[]"))
        else:
            written = _longest_host(match["bare"])
            if written is None:
                continue
            host, end = plain_host(written), match.start() + len(written)
        path = _LINK_PATH.match(text, end)
        end = path.end() if path else end
        found.append(Found(match.start(), end, host, text[match.start():end]))
    return found


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
    for match in _ADDRESS.finditer(text):
        domain = plain_host(match["d1"] or match["d2"] or match["d3"])
        if match["d3"] and not known_suffix(domain):
            continue
        if "." in domain and not text.endswith("//", 0, match.start()):  # not a URL's user
            found.append(Found(match.start(), match.end(), domain, match[0]))
    return found


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
