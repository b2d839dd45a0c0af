"""Routes, raw messages and a reader of everything a recipient can see, for the rewrite tests."""

from __future__ import annotations

import base64
import html
import quopri
import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import unquote

from relay.content.rewrite import rewrite
from relay.model import Route

SELLER = "seller@shop.example"
SELLER_OTHER = "orders@shop.example"
BUYER = "buyer@mail.example"
SELLER_ALIAS = "shop7k2m9x4q8r3t@relay.example"
BUYER_ALIAS = "b4n6p8r2t5w7y9z3@relay.example"
NEW_ID = "<n3w8k2m4@relay.example>"


def seller_to_buyer(name: str = "Acme Shop") -> Route:
    return Route(
        alias=BUYER_ALIAS, kind="seller-to-buyer", relationship_id=1, buyer_id="b1",
        seller_id="s1", recipient=BUYER, sender_addresses=(SELLER, SELLER_OTHER),
        sender_name=name, sender_alias=SELLER_ALIAS,
    )


def buyer_to_seller() -> Route:
    return Route(
        alias=SELLER_ALIAS, kind="buyer-to-seller", relationship_id=1, buyer_id="b1",
        seller_id="s1", recipient=SELLER, sender_addresses=(BUYER,),
        sender_name="Bob Buyer", sender_alias=BUYER_ALIAS,
    )


def crlf(text: str, charset: str = "utf-8") -> bytes:
    """A message written with \\n line endings, as it arrives over SMTP."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode(charset)


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def run(
    raw: bytes, route: Route | None = None, *, in_reply_to: list[str] | None = None,
    references: list[str] | None = None,
) -> bytes:
    return rewrite(
        parse(raw), route or seller_to_buyer(), message_id=NEW_ID,
        in_reply_to=in_reply_to or [], references=references or [],
    )


def encode_body(text: str, charset: str, encoding: str) -> bytes:
    """`text` in `charset` under a Content-Transfer-Encoding, CRLF line endings."""
    data = text.replace("\n", "\r\n").encode(charset)
    if encoding == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if encoding == "quoted-printable":
        return quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    return data


def part(headers: list[str], body: bytes) -> bytes:
    return "\r\n".join(headers).encode("ascii") + b"\r\n\r\n" + body


def multipart(subtype: str, boundary: str, parts: list[bytes]) -> tuple[str, bytes]:
    """A Content-Type line and the body holding `parts`."""
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
    return (f'Content-Type: multipart/{subtype}; boundary="{boundary}"',
            body + b"--" + boundary.encode() + b"--\r\n")


def children(message: EmailMessage) -> list[EmailMessage]:
    """The parts of a multipart, or the one message attached to a message/rfc822 part."""
    payload = message.get_payload()
    assert isinstance(payload, list)
    parts = [p for p in payload if isinstance(p, EmailMessage)]
    assert len(parts) == len(payload)
    return parts


def visible(message: EmailMessage) -> Iterator[str]:
    """Every string a mail client could show: headers, parameters, file names, decoded text."""
    for item in message.walk():
        for _name, value in item.items():
            yield str(value)
            yield from (str(v) for v in getattr(value, "params", {}).values())
        yield item.get_filename() or ""
        yield item.preamble or ""
        yield item.epilogue or ""
        if item.get_content_maintype() == "text":
            text = text_of(item)
            yield from (text, html.unescape(text), unquote(text))
            if item.get_content_type() == "text/calendar":  # RFC 5545 §3.1 folded lines
                yield re.sub(r"\n[ \t]", "", text)


def text_of(item: EmailMessage) -> str:
    """A text part's content, decoded as leniently as a mail client would."""
    data = item.get_payload(decode=True)
    assert isinstance(data, bytes)
    try:
        text = data.decode(item.get_content_charset() or "utf-8", "replace")
    except (LookupError, UnicodeError):
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n")


def assert_private(out: bytes, route: Route) -> None:
    """SPEC §2.4: no real sender address in the bytes or in anything a client decodes."""
    lowered = out.lower()
    for address in route.sender_addresses:
        assert address.encode() not in lowered
    delivered = parse(out)
    for text in visible(delivered):
        for address in route.sender_addresses:
            assert address not in text.lower(), text
    assert str(delivered["To"]) == route.recipient
    assert delivered["From"].addresses[0].addr_spec == route.sender_alias
