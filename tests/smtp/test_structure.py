"""Hostile structure over SMTP: each rule of README "Malformed and hostile mail" end to end."""

from __future__ import annotations

import base64
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from relay.replies import Refused
from tests.smtp.conftest import BUYER, SELLER, Client, World
from tests.unit.content.files import PNG
from tests.unit.content.messages import multipart, part

HEAD = (f"From: Acme <{SELLER}>\r\nTo: buyer\r\nSubject: Your order\r\n"
        "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n").encode()


def parsed(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def texts(data: bytes) -> list[str]:
    """Every text part a client would show, decoded."""
    out = []
    for item in parsed(data).walk():
        if item.get_content_maintype() == "text":
            payload = item.get_payload(decode=True)
            assert isinstance(payload, bytes)
            text = payload.decode(item.get_content_charset() or "utf-8")
            out.append(text.replace("\r\n", "\n"))
    return out


def mixed(*parts: bytes) -> bytes:
    ctype, body = multipart("mixed", "outer-b", [
        part(["Content-Type: text/plain; charset=utf-8"], b"Thanks for your order."), *parts])
    return HEAD + ctype.encode() + b"\r\n\r\n" + body


def nested(depth: int) -> bytes:
    body = part(["Content-Type: text/plain"], b"deep")
    for level in range(depth):
        ctype, inner = multipart("mixed", f"L{level}x", [body])
        body = part([ctype], inner)
    return HEAD + body


async def send(world: World, raw: bytes) -> tuple[int, str, bytes | None]:
    """(code, text, delivered bytes or None) for one message from the seller to the buyer."""
    upstream = world.upstream.handler
    before = len(upstream.messages)
    async with Client(world.port) as client:
        answer = await client.send(SELLER, world.aliases.buyer_alias, raw)
        delivered = None
        if answer.code == 250:
            delivered = (await upstream.wait_for(before + 1))[before].data
        # The session goes on: a plain message after the hostile one is still accepted.
        follow = await client.send(SELLER, world.aliases.buyer_alias,
                                   HEAD + b"Content-Type: text/plain\r\n\r\nnext\r\n")
        assert follow.code == 250, follow
    await upstream.wait_for(before + 1 + (answer.code == 250))
    return answer.code, answer.text, delivered


REFUSED: list[tuple[str, Callable[[], bytes], str]] = [
    ("depth", lambda: nested(11), "nested more than 10 levels deep"),
    ("recursion", lambda: nested(2000), "nested more than 10 levels deep"),
    ("width", lambda: mixed(*[part(["Content-Type: text/plain"], b"x")] * 100),
     "more than 100 parts"),
    ("no boundary",
     lambda: HEAD + b"Content-Type: multipart/mixed\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n",
     "boundary is missing, repeated or unclosed"),
    ("unclosed", lambda: HEAD + b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\n'
     b"\r\nx\r\n", "boundary is missing, repeated or unclosed"),
    ("same boundary inside", lambda: mixed(part(
        ['Content-Type: multipart/alternative; boundary="outer-b"'], b"--outer-b\r\n\r\nx\r\n"
        b"--outer-b--")), "boundary is missing, repeated or unclosed"),
    ("duplicate type", lambda: mixed(part(["Content-Type: text/plain", "Content-Type: text/html"],
                                          b"<b>x</b>")), "more than one Content-Type header"),
    ("long header", lambda: HEAD.replace(b"Subject: Your order",
                                         b"Subject: " + b"\r\n x" * 20000) + b"\r\nhi\r\n",
     "the Subject header is longer than mail allows"),
]


@pytest.mark.parametrize(("case", "build", "says"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_unreadable_structure_is_refused_naming_what(
    world: World, case: str, build: Callable[[], bytes], says: str,
) -> None:
    """554 5.6.0 with a sentence saying what; nothing is delivered; the session goes on."""
    code, text, delivered = await send(world, build())
    assert (code, delivered) == (554, None)
    assert text.startswith("5.6.0 ")
    assert says in text


async def test_submitted_mail_is_refused_the_same_way(world: World) -> None:
    """Mail handed over without SMTP passes the same structure step."""
    with pytest.raises(Refused) as refused:
        await world.relay.intake.submit(world.aliases.buyer_alias, nested(11), party="s1",
                                        sender=SELLER, origin="test")
    assert "nested more than 10 levels" in refused.value.reply.text


async def test_bad_leaf_parts_are_removed_with_a_note(world: World) -> None:
    """Bad base64 and uuencode go, each named in a note; the rest of the mail arrives."""
    raw = mixed(
        part(["Content-Type: application/pdf; name=invoice.pdf",
              "Content-Transfer-Encoding: base64"], b"JVBERi0x!LjQK\r\n"),
        part(["Content-Type: application/octet-stream; name=tool.exe",
              "Content-Transfer-Encoding: x-uuencode"], b"begin 644 tool.exe\r\n#0V%T\r\nend\r\n"),
        part(["Content-Type: text/plain"], b"Here:\r\nbegin 644 run.bat\r\nM1F]O\r\n`\r\nend\r\n"),
    )
    code, _text, delivered = await send(world, raw)
    assert code == 250
    assert delivered is not None
    shown = texts(delivered)
    assert shown[0] == "Thanks for your order."
    assert shown[1] == ("A part that could not be read was removed (its base64 encoding is "
                        "damaged): invoice.pdf\n")
    assert shown[2].endswith(": tool.exe\n")
    assert shown[3].startswith("Here:\n")
    assert "M1F]O" not in shown[3]
    assert "run.bat" in shown[3]
    assert all(p.get_content_maintype() == "text" for p in parsed(delivered).walk()
               if not p.is_multipart())


async def test_contact_carriers_are_dropped_and_others_rewritten(world: World) -> None:
    """vCard and PGP key go with a note; a calendar invite and an encoded forward are rewritten."""
    inner = (f"From: Acme <{SELLER}>\r\nTo: {BUYER}\r\nSubject: earlier\r\n\r\n"
             f"From {SELLER}\r\n").encode()
    ics = (f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nORGANIZER:mailto:{SELLER}\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    raw = mixed(
        part(["Content-Type: text/vcard; name=acme.vcf"], f"BEGIN:VCARD\r\nEMAIL:{SELLER}\r\n"
                                                           "END:VCARD\r\n".encode()),
        part(["Content-Type: application/pgp-keys; name=key.asc"],
             b"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nmQINBF\r\n"),
        part(["Content-Type: text/calendar; method=REQUEST"], ics),
        part(["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"],
             base64.encodebytes(inner).replace(b"\n", b"\r\n")),
    )
    code, _text, delivered = await send(world, raw)
    assert code == 250
    assert delivered is not None
    assert SELLER.encode() not in delivered.lower()
    shown = texts(delivered)
    assert shown[1] == "An attachment that could reveal contact details was removed: acme.vcf\n"
    assert shown[2] == "An attachment that could reveal contact details was removed: key.asc\n"
    assert f"ORGANIZER:mailto:{world.aliases.seller_alias}" in shown[3]
    assert shown[4] == f"From {world.aliases.seller_alias}\n"
    assert b"BEGIN:VCARD" not in delivered
    assert b"mQINBF" not in delivered


async def test_names_and_headers_are_cleaned(world: World) -> None:
    """Traversal and RLO in names, CR/LF from encoded words, NUL and 8-bit bytes: all cleaned."""
    injected = base64.b64encode(b"Order\r\nBcc: victim@evil.example").decode()
    raw = mixed(
        part(["Content-Type: application/pdf",
              "Content-Disposition: attachment; filename*=utf-8''..%2F..%2Finvoice%E2%80%AEtxt.pdf",
              "Content-Transfer-Encoding: base64"], b"JVBERi0xLjQK\r\n"),
        part(["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"],
             base64.b64encode(b"nul\x00here")),
    ).replace(b"Subject: Your order", f"Subject: =?utf-8?b?{injected}?= Gr\u00fc\u00dfe".encode())
    code, _text, delivered = await send(world, raw)
    assert code == 250
    assert delivered is not None
    assert delivered.isascii()
    assert b"\x00" not in delivered
    message = parsed(delivered)
    assert "Bcc" not in message
    assert message["Subject"] == "Order Bcc: victim@evil.example Grüße"
    attachment = list(message.walk())[2]
    assert attachment.get_filename() == "invoicetxt.pdf"
    assert texts(delivered)[1] == "nulhere"


async def test_boundaries_and_content_ids_are_relays(world: World) -> None:
    """Nothing of the sender's MIME framing arrives: new boundary, Content-ID at the relay."""
    ctype, related = multipart("related", "acme-shop.example-boundary", [
        part(["Content-Type: text/html; charset=utf-8"], b'<img src="cid:logo@acme-shop.example">'),
        part(["Content-Type: image/png", "Content-ID: <logo@acme-shop.example>",
              "Content-Location: https://acme-shop.example/logo.png",
              "Content-Transfer-Encoding: base64"], base64.b64encode(PNG) + b"\r\n"),
    ])
    code, _text, delivered = await send(world, HEAD + ctype.encode() + b"\r\n\r\n" + related)
    assert code == 250
    assert delivered is not None
    assert b"acme-shop" not in delivered
    image = list(parsed(delivered).walk())[2]
    content_id = str(image["Content-ID"])[1:-1]
    assert content_id.endswith("@relay.example")
    assert f'src="cid:{content_id}"' in texts(delivered)[0]
