"""Verifying DKIM in tests as a receiver would: dkimpy, with the key from the test DNS server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import dkim
import dns.exception
import dns.resolver

from tests.dns_server import HOST, DnsServer


def txt_lookup(server: DnsServer) -> Callable[[bytes, int], bytes | None]:
    """dkimpy's dnsfunc: the TXT record of `name`, asked of `server` over UDP (TCP on TC)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [HOST]
    resolver.port = server.port
    resolver.lifetime = 2.0

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode(), "TXT")
        except dns.exception.DNSException:
            return None
        return b"".join(answer[0].strings)

    return lookup


async def verifies(message: bytes, server: DnsServer) -> bool:
    """Whether the top DKIM-Signature verifies. In a thread: the server answers on this loop."""
    return bool(await asyncio.to_thread(dkim.verify, message, dnsfunc=txt_lookup(server)))


def signature_tags(message: bytes) -> dict[str, str]:
    """The tags of the top DKIM-Signature, whitespace removed."""
    head = message.partition(b"\r\n\r\n")[0].decode()
    match = re.search(r"^DKIM-Signature:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head,
                      re.MULTILINE | re.IGNORECASE)
    assert match is not None, "no DKIM-Signature"
    value = re.sub(r"\s+", "", match[1])
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)
