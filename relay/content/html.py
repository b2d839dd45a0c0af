"""Sanitise every HTML part with nh3 (SPEC §2.3), whoever sends it.

Allowed tags keep their text, other tags go and their text stays, and the
content of script, style and the like is dropped. No event handler, no active
URL, no remote image or CSS that fetches survives: a remote image tells the
sender when and where the message was read. What the HTML loses, the plain-text
alternative beside it loses too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import nh3

from relay.content.text import TextPart, text_parts
from relay.message import Transaction

# Never allowed, whatever the configuration: they run code, fetch or take input.
ACTIVE_TAGS = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base",
    "link", "meta", "form", "input", "button", "select", "textarea", "option", "svg", "math",
    "template", "noscript", "audio", "video", "source", "track", "picture", "portal", "head",
    "title", "xmp", "noembed", "noframes", "plaintext", "param", "dialog", "slot",
})
# Dropped with their content: what they hold is code, styling or metadata, not text.
_CONTENT_DROPPED = frozenset({
    "script", "style", "template", "head", "title", "iframe", "object", "embed", "applet",
    "noembed", "noframes", "xmp",
})
# Attributes that load something or that nh3 manages itself: never allowed.
URL_ATTRIBUTES = frozenset({
    "background", "srcset", "lowsrc", "dynsrc", "poster", "longdesc", "action",
    "formaction", "data", "codebase", "cite", "ping", "xmlns", "xlink:href", "rel",
})
_SCHEMES = frozenset({"http", "https", "mailto", "cid"})
_NUMBER = re.compile(r"\d{1,4}%?")
# CSS that formats text and tables; nothing in it can fetch (no url(), no @import).
CSS_PROPERTIES = frozenset({
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
    "text-align", "text-decoration", "vertical-align", "line-height", "white-space",
    "width", "height", "max-width", "border", "border-collapse", "border-spacing",
    "border-color", "border-style", "border-width", "border-top", "border-bottom",
    "border-left", "border-right", "padding", "padding-top", "padding-bottom",
    "padding-left", "padding-right", "margin", "margin-top", "margin-bottom", "margin-left",
    "margin-right",
})
# A value of words, numbers, colours and rgb()/rgba(): no backslash escapes, no other
# function (url, expression, image-set, var), no "@", ":" or ";" smuggled in.
_CSS_VALUE = re.compile(r"(?:[#\w\s.,%+'\"!-]|rgba?\(\s*[\d.,%\s]*\))*", re.ASCII)


@dataclass(frozen=True)
class HtmlPolicy:
    """Which tags and attributes stay: "name" on every allowed tag, "tag.name" on one."""

    tags: frozenset[str]
    attributes: dict[str, frozenset[str]]

    @classmethod
    def from_settings(cls, tags: Iterable[str], attributes: Iterable[str]) -> HtmlPolicy:
        allowed: dict[str, set[str]] = {}
        for item in attributes:
            tag, _, name = item.lower().rpartition(".")
            if name.startswith("on") or name in URL_ATTRIBUTES:
                continue
            allowed.setdefault(tag or "*", set()).add(name)
        return cls(frozenset(t.lower() for t in tags) - ACTIVE_TAGS,
                   {tag: frozenset(names) for tag, names in allowed.items()})


@dataclass
class Sanitised:
    html: str
    removed: list[str] = field(default_factory=list)  # URLs taken out, to take from the text


def sanitise(html: str, policy: HtmlPolicy) -> Sanitised:
    """The HTML with only allowed, inactive markup left, and the URLs it lost."""
    removed: list[str] = []

    def keep(tag: str, name: str, value: str) -> str | None:
        kept = _attribute(name, value)
        if name == "style":
            removed.extend(_urls(value))
        elif kept is None and name in ("src", "href") and value.strip():
            removed.append(value.strip())
        return kept

    cleaner = nh3.Cleaner(
        tags=set(policy.tags), clean_content_tags=set(_CONTENT_DROPPED - policy.tags),
        attributes={tag: set(names) for tag, names in policy.attributes.items()},
        attribute_filter=keep, url_schemes=set(_SCHEMES), url_relative="deny",
        strip_comments=True,
    )
    return Sanitised(cleaner.clean(html), removed)


def _attribute(name: str, value: str) -> str | None:
    """An attribute's value as it may stay, or None to drop it."""
    if name.startswith("on") or name in URL_ATTRIBUTES:
        return None
    if name == "src":  # only inline images travel with the message
        return value if value.strip().lower().startswith("cid:") else None
    if name == "href":
        url = value.strip()
        scheme = url.partition(":")[0].lower()
        return url if url.startswith("//") or scheme in _SCHEMES - {"cid"} else None
    if name == "style":
        return safe_css(value) or None
    if name in ("colspan", "rowspan", "width", "height", "border", "cellpadding",
                "cellspacing"):
        return value if _NUMBER.fullmatch(value.strip()) else None
    return value


def safe_css(style: str) -> str:
    """The declarations of a style attribute that format text and cannot fetch anything."""
    kept = []
    for declaration in style.split(";"):
        prop, colon, value = declaration.partition(":")
        prop, value = prop.strip().lower(), value.strip()
        if colon and prop in CSS_PROPERTIES and value and _CSS_VALUE.fullmatch(value):
            kept.append(f"{prop}: {value}")
    return "; ".join(kept)


_URL_IN_CSS = re.compile(r"""url\(\s*['"]?([^'")\s]+)""", re.I)


def _urls(style: str) -> list[str]:
    return _URL_IN_CSS.findall(style)


class Html:
    """Sanitise each text/html part in place; take what it lost out of its text alternative."""

    def __init__(self, policy: HtmlPolicy) -> None:
        self._policy = policy

    async def __call__(self, tx: Transaction) -> None:
        parts = list(text_parts(tx.parsed))
        lost: dict[int, list[str]] = {}
        for item in parts:
            if item.is_html:
                result = sanitise(item.text, self._policy)
                item.replace(result.html)
                if item.alternative is not None and result.removed:
                    lost.setdefault(id(item.alternative), []).extend(result.removed)
        for item in parts:
            if not item.is_html and item.alternative is not None:
                _forget(item, lost.get(id(item.alternative), ()))


def _forget(item: TextPart, urls: Iterable[str]) -> None:
    """The plain-text twin does not show what the HTML no longer does."""
    text = item.text
    for url in sorted(set(urls), key=len, reverse=True):
        if len(url) > 3:
            text = text.replace(url, "")
    item.replace(text)
