"""Off-site links: found however they are written, refused or cut, allowed domains kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.content.html import Html
from relay.content.links import LINK_REMOVED, Links
from relay.content.reading import Reading
from relay.content.spotting import links, within
from relay.content.text import text_parts
from relay.message import Transaction
from relay.replies import S550_OFFSITE_LINK, Refused
from tests.unit.content.messages import SELLER, crlf, seller_to_buyer
from tests.unit.content.test_html import POLICY

ALLOWED = ("marketplace.example", "relay.example")


def wide(text: str) -> str:
    """`text` in full-width characters, as East Asian input methods write it."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def transaction(body: str, subtype: str = "plain") -> Transaction:
    raw = (f"From: {SELLER}\nTo: b@relay.example\nSubject: x\nMIME-Version: 1.0\n"
           f"Content-Type: text/{subtype}; charset=utf-8\n\n{body}\n")
    return Transaction(id="t1", peer="127.0.0.1", mail_from=SELLER, route=seller_to_buyer(),
                       received=crlf(raw))


async def run(body: str, action: str = "strip", subtype: str = "plain") -> str:
    tx = transaction(body, subtype)
    await Html(POLICY)(tx)
    await Links(action, ALLOWED)(tx)  # type: ignore[arg-type]
    (part,) = text_parts(tx.parsed)
    return part.text


def hosts(text: str, is_html: bool = False) -> list[str]:
    return [f.host for f in links(Reading.of(text, is_html=is_html).text)]


class TestFinding:
    @pytest.mark.parametrize(("text", "host"), [
        ("see https://evil-shop.com/p?x=1.", "evil-shop.com"),
        ("hxxps://evil-shop[.]com/x", "evil-shop.com"),
        ("hXXp://evil-shop.com", "evil-shop.com"),
        ("http[:]//evil-shop.com", "evil-shop.com"),
        ("go to www.evil-shop.co.uk now", "www.evil-shop.co.uk"),
        ("www.shop.example", "www.shop.example"),
        ("buy at evil-shop.com today", "evil-shop.com"),
        ("evil-shop . com", "evil-shop.com"),
        ("evil-shop[.]com", "evil-shop.com"),
        ("evil-shop(dot)com", "evil-shop.com"),
        ("evil-shop dot com", "evil-shop.com"),
        ("www&#46;evil-shop&#46;com", "www.evil-shop.com"),
        ("%77ww.evil-shop.com", "www.evil-shop.com"),
        (wide("www.evil-shop.com"), "www.evil-shop.com"),
        ("evil\u200b-shop.com", "evil-shop.com"),
        ("http://marketplace.example@evil-shop.com/", "evil-shop.com"),
        ("http://192.0.2.7/x", "192.0.2.7"),
        ("bücher.de", "xn--bcher-kva.de"),
    ])
    def test_forms_people_use(self, text: str, host: str) -> None:
        assert hosts(text) == [host]

    @pytest.mark.parametrize("text", [
        "invoice.pdf and photo.jpg and data.zip", "version 1.2.3, e.g. i.e.", "Mr.Smith",
        "the dot com bubble", "it is at home. It arrives", "owner@acme-shop.com",
        "3.5 kg", "jo [at] gmail [dot] com",
    ])
    def test_not_links(self, text: str) -> None:
        assert hosts(text) == []

    def test_markup_between_letters_is_read_through(self) -> None:
        assert hosts("<p>ev<b>il-shop</b>.com</p>", is_html=True) == ["evil-shop.com"]

    def test_allowed_domains_include_their_subdomains(self) -> None:
        domains = frozenset(ALLOWED)
        assert within("marketplace.example", domains)
        assert within("help.marketplace.example", domains)
        assert not within("marketplace.example.evil.com", domains)
        assert not within("evilmarketplace.example", domains)


class TestStep:
    async def test_reject_names_the_host(self) -> None:
        with pytest.raises(Refused) as refused:
            await run("Cheaper at www.evil-shop.com!", "reject")
        reply = refused.value.reply
        assert (reply.code, reply.enhanced) == (S550_OFFSITE_LINK.code, "5.7.1")
        assert "www.evil-shop.com" in reply.text

    async def test_reject_an_href(self) -> None:
        with pytest.raises(Refused) as refused:
            await run('<a href="https://evil-shop.com/x">our shop</a>', "reject", "html")
        assert "evil-shop.com" in refused.value.reply.text

    async def test_allowed_domains_pass(self) -> None:
        body = "Help: https://help.marketplace.example/faq and https://relay.example/x"
        assert (await run(body, "reject")).strip() == body

    async def test_strip_cuts_the_link_and_keeps_the_rest(self) -> None:
        out = await run("Cheaper at hxxp://evil-shop[.]com/deal, thanks", "strip")
        assert out.strip() == f"Cheaper at {LINK_REMOVED}, thanks"

    async def test_strip_takes_the_href_and_the_text_link(self) -> None:
        out = await run('<p><a href="https://evil-shop.com/x">www.evil-shop.com</a> ok '
                        '<a href="https://marketplace.example/o">order</a></p>', "strip", "html")
        assert "evil-shop" not in out
        assert f"<a>{LINK_REMOVED}</a> ok" in out
        assert 'href="https://marketplace.example/o"' in out

    async def test_a_link_glued_after_a_spaced_dot_is_read_on_its_own(self) -> None:
        out = await run("hxxp://evil-shop[.]com . http://marketplace.example@evil-shop.com")
        assert "evil-shop" not in out, out

    async def test_strip_inside_entities(self) -> None:
        out = await run("<p>www&#46;evil-shop&#46;com &amp; more</p>", "strip", "html")
        assert out.strip() == f"<p>{LINK_REMOVED} &amp; more</p>"


LINK_FORMS = (
    "https://evil-shop.com/x", "hxxp://evil-shop[.]com", "www.evil-shop.com", "evil-shop.com",
    "evil-shop . com", "evil-shop[.]com", "evil-shop dot com", "www&#46;evil-shop&#46;com",
    "%77ww.evil-shop.com", wide("www.evil-shop.com"), "<a href=\"http://evil-shop.com\">x</a>",
    "<a href=\"//evil-shop.com\">x</a>", "http://marketplace.example@evil-shop.com",
    "<b>ev</b>il-shop.com", "ev&shy;il-shop.com",
)
FILLER = (" ", "Hello ", "<p>", "</p>", "\n", ", ", "https://marketplace.example/ok ", "&amp;",
          "order 1234 ", "shop.", ".", "<noscript>", "<textarea>", "<xmp>", "<style>", "<svg>")


class TestProperties:
    @settings(max_examples=250, deadline=None)
    @given(pieces=st.lists(st.sampled_from(LINK_FORMS + FILLER), max_size=10),
           between=st.sampled_from((" ", "\n", ", ", "<br>")),
           subtype=st.sampled_from(("plain", "html")), action=st.sampled_from(("reject", "strip")))
    async def test_no_offsite_link_survives(self, pieces: list[str], between: str, subtype: str,
                                            action: str) -> None:
        """Refused, or delivered without any off-site link, in href or text.

        (Pieces are set apart as writers do: a host glued to the next word,
        "shop.comHello", is not read as a link.)
        """
        try:
            out = await run(between.join(pieces), action, subtype)
        except Refused:
            assert action == "reject"
            return
        offsite = [h for h in hosts(out, subtype == "html") if not within(h, frozenset(ALLOWED))]
        assert not offsite, out
        assert "evil-shop" not in out.lower().replace("&shy;", ""), out
