"""Off-site links (SPEC §2.3): refuse or cut links to hosts outside the allowed domains.

A link counts in an HTML href and anywhere in the text, however it is written
(relay.content.spotting). Runs after the HTML step, on the sanitised HTML, whose
tags and attributes are in one canonical form.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from typing import Literal

from relay.content.reading import cut, readings
from relay.content.spotting import links, url_host, within
from relay.content.text import TextPart, text_parts
from relay.message import Transaction
from relay.replies import S550_OFFSITE_LINK, Refused

Action = Literal["reject", "strip"]
LINK_REMOVED = "[link removed]"
_ROUNDS = 3
# nh3 writes attributes double-quoted, with " and > escaped inside values.
TAG = re.compile(r"<[a-zA-Z][^<>]*>")
HREF = re.compile(r'\shref="([^"]*)"')


class Links:
    """Refuse (or strip) links to hosts not in `domains` or below one of them."""

    def __init__(self, action: Action, domains: Iterable[str]) -> None:
        self._action = action
        self._domains = frozenset(d.lower().rstrip(".") for d in domains)

    async def __call__(self, tx: Transaction) -> None:
        for item in text_parts(tx.parsed):
            self._check(item)

    def _offsite(self, host: str | None) -> bool:
        return host is not None and not within(host, self._domains)

    def _check(self, item: TextPart) -> None:
        source = item.text
        if item.is_html:
            source = rewrite_hrefs(source, lambda url: self._judge(url_host(url)))
        for _ in range(_ROUNDS):  # a cut can join what is left into a new link
            spans = []
            for reading in readings(source, is_html=item.is_html):
                found = [f for f in links(reading.text) if self._offsite(f.host)]
                if found:
                    self._refuse(found[0].host)
                    spans += reading.spans([(f.start, f.end) for f in found])
            if not spans:
                item.replace(source)
                return
            source = cut(source, spans, LINK_REMOVED)
        raise Refused(S550_OFFSITE_LINK.but(S550_OFFSITE_LINK.text.format(host="another site")))

    def _judge(self, host: str | None) -> bool:
        """Whether an href stays; refuses the message under "reject"."""
        if not self._offsite(host):
            return True
        assert host is not None
        self._refuse(host)
        return False

    def _refuse(self, host: str) -> None:
        if self._action == "reject":
            raise Refused(S550_OFFSITE_LINK.but(S550_OFFSITE_LINK.text.format(host=_shown(host))))


def rewrite_hrefs(source: str, keep: Callable[[str], bool]) -> str:
    """The HTML with each href that `keep(url)` refuses taken out of its tag."""

    def tag(match: re.Match[str]) -> str:
        return HREF.sub(lambda h: h[0] if keep(html.unescape(h[1])) else "", match[0])

    return TAG.sub(tag, source)


def _shown(host: str) -> str:
    """A host as a reply line can carry it: ASCII, bounded."""
    return host.encode("ascii", "replace").decode("ascii")[:100]
