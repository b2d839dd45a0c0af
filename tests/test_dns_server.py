"""The test DNS server answers dnspython's async resolver as a real authoritative server would."""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.resolver
import pytest

from tests.dns_server import DnsServer

LONG_KEY = "v=DKIM1; k=rsa; p=" + "A" * 736  # a 4096-bit key's record is about this long


class TestDnsServer:
    async def test_txt_a_and_mx_answer_over_udp(self, dns_server: DnsServer) -> None:
        """Records given by the test come back through the resolver, type by type."""
        dns_server.txt("shop.example", "v=spf1 ip4:192.0.2.1 -all")
        dns_server.add("mx.shop.example", "A", "192.0.2.25")
        dns_server.add("shop.example", "MX", "10 mx.shop.example.")
        resolver = dns_server.resolver()
        txt = await resolver.resolve("shop.example", "TXT")
        assert [b"".join(r.strings) for r in txt] == [b"v=spf1 ip4:192.0.2.1 -all"]
        assert [r.address for r in await resolver.resolve("mx.shop.example", "A")] == [
            "192.0.2.25"]
        assert [str(r.exchange) for r in await resolver.resolve("shop.example", "MX")] == [
            "mx.shop.example."]
        assert all(transport == "udp" for *_, transport in dns_server.queries)

    async def test_long_txt_is_split_and_retried_over_tcp(self, dns_server: DnsServer) -> None:
        """A record past 255 bytes is published as several strings; an answer past the
        query's UDP size is truncated, so the resolver asks again over TCP."""
        dns_server.txt("s1._domainkey.relay.example", LONG_KEY)
        resolver = dns_server.resolver()
        resolver.use_edns(-1)  # no EDNS: 512-byte UDP answers, as RFC 1035 has it
        (record,) = await resolver.resolve("s1._domainkey.relay.example", "TXT")
        assert [len(s) for s in record.strings] == [255, 255, len(LONG_KEY) - 510]
        assert b"".join(record.strings).decode() == LONG_KEY
        assert [t for *_, t in dns_server.queries] == ["udp", "tcp"]

    async def test_unknown_name_and_missing_type(self, dns_server: DnsServer) -> None:
        """A name with no records is NXDOMAIN; a known name without the type has no answer."""
        dns_server.add("shop.example", "A", "192.0.2.1")
        resolver = dns_server.resolver()
        with pytest.raises(dns.resolver.NXDOMAIN):
            await resolver.resolve("nowhere.example", "TXT")
        with pytest.raises(dns.resolver.NoAnswer):
            await resolver.resolve("shop.example", "TXT")

    async def test_a_name_can_time_out(self, dns_server: DnsServer) -> None:
        """No answer at all, over UDP and TCP: the resolver gives up at its lifetime."""
        dns_server.txt("slow.example", "v=spf1 -all")
        dns_server.time_out("slow.example")
        with pytest.raises(dns.exception.Timeout):
            await dns_server.resolver(lifetime=0.3).resolve("slow.example", "TXT")
        query = dns.message.make_query("slow.example", "TXT")
        with pytest.raises(dns.exception.Timeout):
            await dns.asyncquery.tcp(query, "127.0.0.1", timeout=0.3, port=dns_server.port)

    async def test_a_name_can_answer_servfail(self, dns_server: DnsServer) -> None:
        """SERVFAIL for that name only; the others still answer."""
        dns_server.txt("broken.example", "v=spf1 -all")
        dns_server.txt("fine.example", "v=spf1 -all")
        dns_server.fail("broken.example")
        query = dns.message.make_query("broken.example", "TXT")
        response = await dns.asyncquery.udp(query, "127.0.0.1", timeout=2, port=dns_server.port)
        assert response.rcode() == dns.rcode.SERVFAIL
        resolver = dns_server.resolver()
        with pytest.raises(dns.resolver.NoNameservers):
            await resolver.resolve("broken.example", "TXT")
        assert await resolver.resolve("fine.example", "TXT")

    async def test_nameserver_is_written_as_the_config_takes_it(
        self, dns_server: DnsServer
    ) -> None:
        """`[dns] nameservers` takes "host:port"; the fixture says where it listens that way."""
        assert dns_server.nameserver == f"127.0.0.1:{dns_server.port}"
        assert dns_server.port > 0
