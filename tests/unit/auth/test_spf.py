"""SPF through pyspf with its DNS on the async resolver: results and RFC 7208's limits."""

from __future__ import annotations

import asyncio
import time

from relay.auth.resolver import Resolver, build
from relay.auth.spf import SpfChecker
from relay.config import parse
from tests.dns_server import DnsServer


def checker(server: DnsServer) -> SpfChecker:
    settings = parse({"dns": {"nameservers": [server.nameserver], "timeout": "1s"}},
                     environ={})
    return SpfChecker(Resolver(build(settings.dns)))


async def test_results(dns_server: DnsServer) -> None:
    dns_server.txt("shop.example", "v=spf1 include:_spf.shop.example -all")
    dns_server.txt("_spf.shop.example", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all")
    dns_server.txt("soft.example", "v=spf1 ~all")
    spf = checker(dns_server)
    assert (await spf.check("192.0.2.7", "a@shop.example", "mx.shop.example")).outcome == "pass"
    assert (await spf.check("2001:db8::7", "a@shop.example", "mx")).outcome == "pass"
    assert (await spf.check("198.51.100.1", "a@shop.example", "mx")).outcome == "fail"
    assert (await spf.check("198.51.100.1", "a@soft.example", "mx")).outcome == "softfail"
    assert (await spf.check("198.51.100.1", "a@none.example", "mx")).outcome == "none"


async def test_more_than_ten_lookups_is_a_permerror(dns_server: DnsServer) -> None:
    includes = " ".join(f"include:i{n}.shop.example" for n in range(11))
    dns_server.txt("shop.example", f"v=spf1 {includes} -all")
    for n in range(11):
        dns_server.txt(f"i{n}.shop.example", "v=spf1 ip4:203.0.113.1 -all")
    result = await checker(dns_server).check("192.0.2.7", "a@shop.example", "mx")
    assert result.outcome == "permerror"
    assert "Too many DNS lookups" in result.reason


async def test_more_than_two_void_lookups_is_a_permerror(dns_server: DnsServer) -> None:
    dns_server.txt("shop.example", "v=spf1 a:v1.shop.example a:v2.shop.example "
                                   "a:v3.shop.example -all")
    result = await checker(dns_server).check("192.0.2.7", "a@shop.example", "mx")
    assert result.outcome == "permerror"
    assert "Void lookup limit" in result.reason


async def test_a_timeout_is_a_temperror_and_the_loop_runs_meanwhile(
    dns_server: DnsServer,
) -> None:
    """The evaluation waits in its thread; the event loop goes on ticking."""
    dns_server.time_out("shop.example")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    result = await checker(dns_server).check("192.0.2.7", "a@shop.example", "mx")
    ticker.cancel()
    assert result.outcome == "temperror"
    assert 0.9 < time.monotonic() - started < 5
    assert ticks >= 10
