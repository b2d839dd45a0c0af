"""HTML, links and contact details through the running relay, on both routes."""

from __future__ import annotations

import dataclasses
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.smtp.conftest import BUYER, SELLER, Answer, Client, World, WorldFactory, compose
from tests.unit.content.test_html import FRAGMENTS, assert_inactive
from tests.unit.content.test_links import LINK_FORMS


def html_message(sender: str, to: str, html: str, text: str = "Hello.") -> bytes:
    """A multipart/alternative message as a mail client writes one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = "Your order"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes(policy=policy.SMTP)


def parts(data: bytes) -> dict[str, str]:
    """The delivered text parts by subtype."""
    delivered = BytesParser(policy=policy.default).parsebytes(data)
    found: dict[str, str] = {}
    for part in delivered.walk():
        if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
            found[part.get_content_subtype()] = part.get_content()
    return found


HOSTILE = (
    '<p onclick="steal()">Your parcel <b>ships</b> today.</p>'
    '<img src="https://track.example/open.gif?m=1"><script>steal()</script>'
    '<svg><style><img src=x onerror=alert(1)></style></svg>'
    '<a href="jav&#x61;script:alert(1)">track</a><!--[if mso]>x<![endif]-->'
    '<div style="background:url(https://track.example/bg.png); color: red">note</div>'
)


async def deliver(world: World, sender: str, alias: str, data: bytes) -> bytes:
    before = len(world.upstream.handler.messages)
    async with Client(world.port) as client:
        answer = await client.send(sender, alias, data)
    assert answer.code == 250, answer
    return (await world.upstream.handler.wait_for(before + 1))[before].data


@pytest.mark.parametrize("seller_writes", [True, False])
async def test_html_is_sanitised_whoever_sends_it(world: World, seller_writes: bool) -> None:
    """Script, handlers, remote images and fetching CSS go; the text stays; the twin follows."""
    sender, alias = ((SELLER, world.aliases.buyer_alias) if seller_writes
                     else (BUYER, world.aliases.seller_alias))
    text = "Your parcel ships today. [image: https://track.example/open.gif?m=1]"
    data = await deliver(world, sender, alias, html_message(sender, alias, HOSTILE, text))
    delivered = parts(data)
    assert_inactive(delivered["html"])
    assert "Your parcel <b>ships</b> today." in delivered["html"]
    assert "color: red" in delivered["html"]
    assert b"track.example" not in data
    assert "Your parcel ships today." in delivered["plain"]


async def test_plain_text_mail_is_unchanged_by_the_html_step(world: World) -> None:
    body = "Hello <b>Bob</b>, 3 < 4 & 5 > 2.\n"
    data = await deliver(world, SELLER, world.aliases.buyer_alias,
                         compose(SELLER, world.aliases.buyer_alias, body=body))
    assert parts(data)["plain"].replace("\r\n", "\n") == body


async def send(world: World, sender: str, alias: str, body: str) -> Answer:
    async with Client(world.port) as client:
        return await client.send(sender, alias, compose(sender, alias, body=body))


async def test_a_sellers_offsite_link_is_refused_naming_its_host(world: World) -> None:
    answer = await send(world, SELLER, world.aliases.buyer_alias,
                        "Cheaper at hxxps://acme-direct[.]com/deal\n")
    assert (answer.code, answer.text[:5]) == (550, "5.7.1")
    assert "acme-direct.com" in answer.text
    assert not world.upstream.handler.messages


async def test_a_buyers_link_passes_by_default(world: World) -> None:
    """links_apply_to defaults to sellers: a buyer may send a link."""
    body = "Is it this one? https://other-store.com/item/7\n"
    data = await deliver(world, BUYER, world.aliases.seller_alias,
                         compose(BUYER, world.aliases.seller_alias, body=body))
    assert "https://other-store.com/item/7" in parts(data)["plain"]


async def test_links_apply_to_buyers_when_configured(make_world: WorldFactory) -> None:
    world = await make_world(content={"links_apply_to": ["seller", "buyer"]})
    answer = await send(world, BUYER, world.aliases.seller_alias, "See www.other-store.com\n")
    assert answer.code == 550
    assert "www.other-store.com" in answer.text


async def test_allowed_domains_and_the_relay_domain_pass(make_world: WorldFactory) -> None:
    world = await make_world(content={"link_domains": ["marketplace.example"]})
    body = "Track it: https://track.marketplace.example/o/1 or https://relay.example/help\n"
    data = await deliver(world, SELLER, world.aliases.buyer_alias,
                         compose(SELLER, world.aliases.buyer_alias, body=body))
    assert "https://track.marketplace.example/o/1" in parts(data)["plain"]


async def test_strip_delivers_without_the_link_in_either_part(make_world: WorldFactory) -> None:
    world = await make_world(content={"links": "strip"})
    html = '<p>Cheaper at <a href="https://acme-direct.com/x">our site</a>: www.acme-direct.com</p>'
    data = await deliver(world, SELLER, world.aliases.buyer_alias, html_message(
        SELLER, world.aliases.buyer_alias, html, "Cheaper at https://acme-direct.com/x"))
    assert b"acme-direct" not in data
    delivered = parts(data)
    assert "<a>our site</a>" in delivered["html"]
    assert "[link removed]" in delivered["plain"]


@pytest.mark.parametrize(("body", "what"), [
    ("Write me at jo [at] gmail [dot] com\n", "an email address"),
    ("Call me on +44 20 7946 0958\n", "a phone number"),
])
async def test_a_sellers_contact_details_are_refused(world: World, body: str, what: str) -> None:
    answer = await send(world, SELLER, world.aliases.buyer_alias, body)
    assert (answer.code, answer.text[:5]) == (550, "5.7.1")
    assert what in answer.text


async def test_contact_details_strip(make_world: WorldFactory) -> None:
    world = await make_world(content={"contact_details": "strip"})
    body = "Call +44 20 7946 0958 or mail jo.private@gmail.com. Order 4567890123.\n"
    data = await deliver(world, SELLER, world.aliases.buyer_alias,
                         compose(SELLER, world.aliases.buyer_alias, body=body))
    text = parts(data)["plain"]
    assert "7946" not in text
    assert "gmail" not in text
    assert "Order 4567890123." in text


async def test_the_sellers_own_address_in_disguise_becomes_the_alias(world: World) -> None:
    """Not refused as a contact detail: replaced like any other occurrence."""
    local, _, domain = SELLER.partition("@")
    shop, _, tld = domain.partition(".")
    wide = "".join(chr(ord(c) + 0xFEE0) for c in local)
    body = (f"Reply to {local} [at] {shop} [dot] {tld}, {local} at {shop} dot {tld} "
            f"or {wide}\uff20{domain}\n")
    data = await deliver(world, SELLER, world.aliases.buyer_alias,
                         compose(SELLER, world.aliases.buyer_alias, body=body))
    text = parts(data)["plain"]
    assert text.count(world.aliases.seller_alias) == 3
    assert local not in text
    assert wide not in text


async def test_a_reload_applies_new_content_rules(world: World) -> None:
    """What SIGHUP does: new sessions get the new rules."""
    body = "Cheaper at www.acme-direct.com\n"
    assert (await send(world, SELLER, world.aliases.buyer_alias, body)).code == 550
    settings = world.relay.settings
    await world.relay.reload(dataclasses.replace(
        settings, content=dataclasses.replace(settings.content, links="allow")))
    assert (await send(world, SELLER, world.aliases.buyer_alias, body)).code == 250


@pytest.fixture
async def stripping(make_world: WorldFactory) -> World:
    """One relay for all the examples of a property: links are cut, not refused."""
    return await make_world(content={"links": "strip", "contact_details": "allow"})


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(FRAGMENTS + LINK_FORMS), min_size=1, max_size=8))
async def test_rules_together_over_smtp(stripping: World, pieces: list[str]) -> None:
    """Hostile HTML with disguised links, links = "strip": inactive, and no off-site link."""
    world = stripping
    html = " ".join(pieces)
    data = await deliver(world, SELLER, world.aliases.buyer_alias,
                         html_message(SELLER, world.aliases.buyer_alias, html, html))
    delivered = parts(data)
    assert_inactive(delivered["html"])
    for text in delivered.values():
        assert "evil-shop" not in text.lower().replace("&shy;", "")
