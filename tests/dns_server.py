"""An authoritative DNS server for tests: loopback, UDP and TCP, answers what the test gives it.

Records are added per name (TXT for DKIM keys and SPF, A, MX, ...). A name can be
made to time out (no answer at all) or to answer SERVFAIL, so that the relay's
behaviour on DNS trouble is tested against a real resolver over real sockets.
An answer too long for the query's UDP size is truncated (TC), as a real server
does, so resolvers retry it over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import struct
from dataclasses import dataclass, field
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.asyncresolver import Resolver

HOST = "127.0.0.1"
UDP_DEFAULT_SIZE = 512  # RFC 1035 §4.2.1, without EDNS


def _name(name: str) -> dns.name.Name:
    return dns.name.from_text(name.lower())


def txt_strings(value: str) -> str:
    """One TXT value as DNS zone text: quoted strings of at most 255 bytes each."""
    raw = value.encode()
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return " ".join('"' + c.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for c in chunks)


@dataclass
class DnsServer:
    """Answers from `records`; `timeouts` are never answered, `servfail` answer SERVFAIL."""

    records: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset] = field(
        default_factory=dict)
    timeouts: set[dns.name.Name] = field(default_factory=set)
    servfail: set[dns.name.Name] = field(default_factory=set)
    queries: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, "udp"|"tcp")
    port: int = 0
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None

    def add(self, name: str, rdtype: str, *values: str, ttl: int = 300) -> None:
        """Add records in zone-file syntax: add("shop.example", "MX", "10 mx.shop.example.")."""
        owner, kind = _name(name), dns.rdatatype.from_text(rdtype)
        rrset = self.records.setdefault(
            (owner, kind), dns.rrset.RRset(owner, dns.rdataclass.IN, kind))
        for value in values:
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, kind, value), ttl)

    def txt(self, name: str, value: str) -> None:
        """A TXT record holding `value`, split into 255-byte strings as published."""
        self.add(name, "TXT", txt_strings(value))

    def time_out(self, name: str) -> None:
        self.timeouts.add(_name(name))

    def fail(self, name: str) -> None:
        self.servfail.add(_name(name))

    @property
    def nameserver(self) -> str:
        """As `[dns] nameservers` takes it: "127.0.0.1:PORT"."""
        return f"{HOST}:{self.port}"

    def resolver(self, lifetime: float = 2.0) -> Resolver:
        """dnspython's async resolver asking this server only."""
        resolver = Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(HOST, self.port)]
        resolver.lifetime = lifetime
        return resolver

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to one query, or None for a name that times out."""
        if len(query.question) != 1:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        owner = question.name.canonicalize()
        if owner in self.timeouts:
            return None
        response = dns.message.make_response(query)
        if owner in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        response.flags |= dns.flags.AA
        rrset = self.records.get((owner, question.rdtype))
        if rrset is not None:
            response.answer.append(rrset)
        elif not any(name == owner for name, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def _handle(self, wire: bytes, transport: str) -> dns.message.Message | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if query.question:
            q = query.question[0]
            self.queries.append((q.name.to_text(omit_final_dot=True).lower(),
                                 dns.rdatatype.to_text(q.rdtype), transport))
        return self.answer(query)

    async def start(self) -> None:
        """Bind UDP and TCP on one free loopback port."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            udp, _protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(HOST, 0))
            port = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await loop.create_server(lambda: _Tcp(self), HOST, port)
            except OSError as exc:
                udp.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self._udp, self.port = udp, port
            return
        raise RuntimeError("no free port for both UDP and TCP")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        response = self._server._handle(data, "udp")
        if response is None or self._transport is None:
            return
        limit = max(response.request_payload, UDP_DEFAULT_SIZE)
        try:
            wire = response.to_wire(max_size=limit)
        except dns.exception.TooBig:  # RFC 2181 §9: truncate, the resolver retries over TCP
            response.answer.clear()
            response.flags |= dns.flags.TC
            wire = response.to_wire(max_size=limit)
        self._transport.sendto(wire, addr)


class _Tcp(asyncio.Protocol):
    """RFC 1035 §4.2.2: each message is preceded by its two-byte length."""

    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 2:
            (length,) = struct.unpack("!H", self._buffer[:2])
            if len(self._buffer) < 2 + length:
                return
            wire, self._buffer = self._buffer[2 : 2 + length], self._buffer[2 + length :]
            response = self._server._handle(wire, "tcp")
            if response is not None and self._transport is not None:
                out = response.to_wire()
                with contextlib.suppress(OSError):
                    self._transport.write(struct.pack("!H", len(out)) + out)
