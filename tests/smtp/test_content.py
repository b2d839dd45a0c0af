"""HTML, links and contact details through the running relay, on both routes."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from tests.smtp.conftest import BUYER, SELLER, Client, World, compose
from tests.unit.content.test_html import assert_inactive


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
