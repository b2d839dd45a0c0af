"""Delivered headers are 7-bit (RFC 2047) unless the upstream offers SMTPUTF8 and the mail
needs it: through the running relay to the real upstream sink, with and without SMTPUTF8."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from tests.smtp.conftest import SELLER, Client, World, WorldFactory

SUBJECT = "Größe 42 \u2013 Ihre Bestellung ist unterwegs 📦"
SHOP = "Café Müller \u2013 Geschenke"
FILE = "Notiz für Sie.txt"


def utf8_message(to: str) -> bytes:
    """Raw UTF-8 headers, as clients send them without SMTPUTF8."""
    return (
        f"From: Café Müller <{SELLER}>\r\nTo: {to}\r\nSubject: {SUBJECT}\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n"
        f'--b\r\nContent-Type: text/plain; charset=utf-8; name="{FILE}"\r\n'
        f'Content-Disposition: attachment; filename="{FILE}"\r\n'
        "Content-Description: Größe\r\n\r\nS, M, L\r\n--b--\r\n"
    ).encode()


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def header_lines_are_ascii(message: EmailMessage) -> bool:
    """Every header of every part, as it was on the wire (8-bit would show as surrogates)."""
    return all(value.isascii() for part in message.walk() for _, value in part.raw_items())


@pytest.mark.parametrize("smtputf8", [False, True], ids=["plain-upstream", "smtputf8-upstream"])
async def test_rewritten_mail_has_7bit_headers(world: World, smtputf8: bool) -> None:
    """The reader sees the same words; the headers carry them as encoded words either way,
    since nothing in this message needs SMTPUTF8."""
    world.upstream.smtputf8 = smtputf8
    await world.relay.store.directory.put_seller("s1", SHOP, SELLER)
    alias = world.aliases.buyer_alias
    async with Client(world.port) as client:
        assert (await client.send(SELLER, alias, utf8_message(alias))).code == 250
    (delivered,) = await world.upstream.handler.wait_for(1)
    assert "SMTPUTF8" not in delivered.mail_options
    assert delivered.data.partition(b"\r\n\r\n")[0].isascii()
    message = parse(delivered.data)
    assert header_lines_are_ascii(message)
    assert message["Subject"] == SUBJECT
    assert message["From"].addresses[0].display_name == SHOP
    attachment = next(message.iter_attachments())
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_filename() == FILE
    assert attachment["Content-Description"] == "Größe"
    assert "Grüße aus Köln" in next(p for p in message.walk() if not p.is_multipart()
                                    and p.get_filename() is None).get_content()


@pytest.mark.parametrize("smtputf8", [False, True], ids=["plain-upstream", "smtputf8-upstream"])
async def test_mail_passed_on_as_it_came(world: World, smtputf8: bool) -> None:
    """Mail to postmaster@ is not rewritten: its 8-bit headers go with SMTPUTF8 where the
    upstream offers it, and re-encoded in 7 bits where it does not."""
    world.upstream.smtputf8 = smtputf8
    sent = utf8_message("postmaster@relay.example")
    async with Client(world.port) as client:
        answer = await client.send("stranger@elsewhere.example", "postmaster@relay.example", sent)
        assert answer.code == 250
    (delivered,) = await world.upstream.handler.wait_for(1)
    head, _, body = delivered.data.partition(b"\r\n\r\n")
    assert body == sent.partition(b"\r\n\r\n")[2]  # the body as it came, whichever way
    message = parse(delivered.data)
    assert message["Subject"] == SUBJECT
    if smtputf8:
        assert "SMTPUTF8" in delivered.mail_options
        assert SUBJECT.encode() in head
    else:
        assert "SMTPUTF8" not in delivered.mail_options
        assert head.isascii()
        assert str(message["From"]) == f"Café Müller <{SELLER}>"


@pytest.mark.parametrize("smtputf8", [False, True], ids=["plain-upstream", "smtputf8-upstream"])
async def test_a_non_ascii_envelope_needs_smtputf8(
    make_world: WorldFactory, smtputf8: bool
) -> None:
    """An address encoded words cannot carry goes with SMTPUTF8, or not at all: the
    message is not sent with the address mangled, and its sender gets a notice."""
    world = await make_world(admin={"address": "ops@bücher.example"})
    world.upstream.smtputf8 = smtputf8
    sent = utf8_message("postmaster@relay.example")
    async with Client(world.port) as client:
        answer = await client.send(SELLER, "postmaster@relay.example", sent)
        assert answer.code == 250
    (delivered,) = await world.upstream.handler.wait_for(1)
    if smtputf8:
        assert delivered.rcpt_tos == ["ops@bücher.example"]
        assert "SMTPUTF8" in delivered.mail_options
    else:  # the notice to the sender, about the message that could not go
        assert delivered.rcpt_tos == [SELLER]
        assert b"SMTPUTF8" in delivered.data
