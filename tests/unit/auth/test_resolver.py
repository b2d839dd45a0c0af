"""The resolver wrapper against a real DNS server on loopback: answers, and each outcome told."""

from __future__ import annotations

import pytest

from relay.auth.resolver import DnsTemporary, Outcome, Resolver, build
from relay.config import parse
from tests.dns_server import DnsServer


def resolver(server: DnsServer, outcomes: list[Outcome]) -> Resolver:
    settings = parse({"dns": {"nameservers": [server.nameserver], "timeout": "0.5s"}},
                     environ={})
    return Resolver(build(settings.dns), outcomes.append)


async def test_each_outcome_is_reported(dns_server: DnsServer) -> None:
    dns_server.txt("shop.example", "v=spf1 -all")
    dns_server.time_out("slow.example")
    dns_server.fail("broken.example")
    outcomes: list[Outcome] = []
    lookups = resolver(dns_server, outcomes)
    [record] = await lookups.lookup("shop.example", "TXT")
    assert record.strings == (b"v=spf1 -all",)
    assert await lookups.lookup("missing.example", "TXT") == []
    assert await lookups.lookup("shop.example", "MX") == []
    with pytest.raises(DnsTemporary, match="timeout"):
        await lookups.lookup("slow.example", "TXT")
    with pytest.raises(DnsTemporary, match="server failure"):
        await lookups.lookup("broken.example", "TXT")
    assert outcomes == ["ok", "nxdomain", "nodata", "timeout", "servfail"]


async def test_a_name_that_is_no_dns_name_is_not_asked(dns_server: DnsServer) -> None:
    """A selector or domain from a message that cannot be a name has no record, for good."""
    outcomes: list[Outcome] = []
    lookups = resolver(dns_server, outcomes)
    assert await lookups.lookup("a..b.example", "TXT") == []
    assert await lookups.lookup("x" * 64 + ".example", "TXT") == []
    assert (dns_server.queries, outcomes) == ([], [])
