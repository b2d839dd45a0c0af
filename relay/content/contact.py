"""Contact details (SPEC §2.3): refuse or cut addresses, mailto: links and phone numbers.

The marketplace's rule against taking the other party off the platform. The
pair's aliases and the two parties' own addresses are not contact details: the
rewrite turns the sender's into their alias. Runs after the HTML step.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote

from relay.content.links import rewrite_hrefs
from relay.content.phones import Budget, phone_spans
from relay.content.reading import Reading, cut
from relay.content.spotting import address_of, addresses_in
from relay.content.text import TextPart, text_parts
from relay.message import Transaction
from relay.model import Route
from relay.replies import S550_CONTACT_DETAILS, Refused

Action = Literal["reject", "strip"]
REMOVED = "[contact details removed]"


def _plain(address: str) -> str:
    local, _, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+')[0]}@{domain}"


class ContactDetails:
    """Refuse (or strip) email addresses, mailto: links and phone numbers in the text."""

    def __init__(self, action: Action) -> None:
        self._action = action

    async def __call__(self, tx: Transaction) -> None:
        assert tx.route is not None
        allowed = _known(tx.route)
        budget = Budget()
        for item in text_parts(tx.parsed):
            self._check(item, allowed, budget)

    def _check(self, item: TextPart, allowed: frozenset[str], budget: Budget) -> None:
        source = item.text
        if item.is_html:
            source = rewrite_hrefs(source, lambda url: self._mailto_kept(url, allowed))
        # As rendered: markup inside an address or a number joins its characters.
        reading = Reading.of(source, is_html=item.is_html)
        found = [(f.start, f.end) for f in addresses_in(reading.text)
                 if address_of(f) not in allowed]
        if found:
            self._refuse("an email address")
        phones = phone_spans(reading.text, budget)
        if phones:
            self._refuse("a phone number")
        item.replace(cut(source, reading.spans(found + phones), REMOVED))

    def _mailto_kept(self, url: str, allowed: frozenset[str]) -> bool:
        scheme, colon, rest = url.strip().partition(":")
        if not colon or scheme.lower() != "mailto":
            return True
        targets = unquote(rest.partition("?")[0]).split(",")
        if all(_plain(t) in allowed for t in targets if t.strip()):
            return True
        self._refuse("a mailto: link")
        return False

    def _refuse(self, what: str) -> None:
        if self._action == "reject":
            raise Refused(S550_CONTACT_DETAILS.but(S550_CONTACT_DETAILS.text.format(what=what)))


def _known(route: Route) -> frozenset[str]:
    """The pair's aliases and the parties' own addresses (the sender's become an alias)."""
    return frozenset(_plain(a) for a in (route.alias, route.sender_alias, route.recipient,
                                         *route.sender_addresses))
