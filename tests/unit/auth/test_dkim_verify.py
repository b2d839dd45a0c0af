"""DKIM verification against keys served by a DNS server on loopback: what is refused unused."""

from __future__ import annotations

import base64
import secrets
import time

import dkim

from relay.auth.dkim_verify import verify
from relay.auth.resolver import Resolver, build
from relay.config import parse
from relay.dkim_keys import new_key, private_pem, record_name
from tests.dns_server import DnsServer

MESSAGE = (b"From: seller@shop.example\r\nTo: buyer@mailbox.example\r\nSubject: Hello\r\n"
           b"\r\nHello there.\r\n")


def resolver(server: DnsServer) -> Resolver:
    settings = parse({"dns": {"nameservers": [server.nameserver], "timeout": "2s"}},
                     environ={})
    return Resolver(build(settings.dns))


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 128:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


async def test_a_key_too_large_to_verify_with_is_not_used(dns_server: DnsServer) -> None:
    """A 16384-bit modulus with as long an exponent: seconds of pure-Python RSA per
    signature, holding the event loop. A permerror at once, without verifying."""
    bits = 16384
    modulus = secrets.randbits(bits) | 1 << (bits - 1) | 1
    exponent = modulus - 2
    der = _der(0x30, _integer(modulus) + _integer(exponent))
    dns_server.txt(record_name("big", "shop.example"),
                   f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")
    signed = dkim.sign(MESSAGE, b"big", b"shop.example", private_pem(new_key()),
                       include_headers=[b"from", b"to", b"subject"]) + MESSAGE
    started = time.monotonic()
    [result] = await verify(signed, resolver(dns_server))
    assert time.monotonic() - started < 1
    assert (result.outcome, result.domain) == ("permerror", "shop.example")
    assert result.reason.startswith("the key is too large to verify with (16384-bit modulus")
