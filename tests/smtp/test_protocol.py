"""Protocol hygiene over raw sockets: TLS, smuggling, idle sessions, connection limits."""

from __future__ import annotations

import asyncio
import ssl

import aiosmtplib

from relay import replies
from tests.smtp.conftest import SELLER, WorldFactory, compose
from tests.smtp.upstream import Certificates


class Raw:
    """A line-level client, for what a well-behaved client library would never send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def reply(self) -> str:
        """One whole (possibly multi-line) reply; the last line."""
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode()
            if len(line) < 4 or line[3] != "-":
                return line.rstrip("\r\n")

    async def say(self, data: bytes) -> str:
        self.writer.write(data)
        await self.writer.drain()
        return await self.reply()

    def close(self) -> None:
        self.writer.close()


class TestSmuggling:
    async def test_bare_lf_is_refused(self, make_world: WorldFactory) -> None:
        """A bare LF (the start of SMTP smuggling) is refused 550 5.5.2, never an end of data."""
        world = await make_world()
        raw = await Raw.connect(world.port)
        await raw.reply()
        await raw.say(b"EHLO client.example\r\n")
        await raw.say(f"MAIL FROM:<{SELLER}>\r\n".encode())
        await raw.say(f"RCPT TO:<{world.aliases.buyer_alias}>\r\n".encode())
        assert (await raw.say(b"DATA\r\n")).startswith("354")
        message = compose(SELLER, world.aliases.buyer_alias)
        smuggled = message + b"\n.\nMAIL FROM:<x@evil.example>\n"
        answer = await raw.say(smuggled + b"\r\n.\r\n")
        raw.close()
        assert answer == str(replies.S550_BARE_LINE_ENDING)
        await asyncio.sleep(0.2)
        assert world.upstream.handler.messages == []


class TestSessions:
    async def test_idle_session_gets_421(self, make_world: WorldFactory) -> None:
        """A client idle past server.timeout is told 421 4.4.2 and disconnected."""
        world = await make_world(server={"timeout": "300ms"})
        raw = await Raw.connect(world.port)
        await raw.reply()
        assert await raw.reply() == str(replies.S421_TIMEOUT)
        assert await raw.reader.read() == b""
        raw.close()

    async def test_one_connection_too_many_gets_421(self, make_world: WorldFactory) -> None:
        world = await make_world(server={"max_connections": 2})
        first, second = await Raw.connect(world.port), await Raw.connect(world.port)
        assert (await first.reply()).startswith("220")
        assert (await second.reply()).startswith("220")
        third = await Raw.connect(world.port)
        assert await third.reply() == str(replies.S421_TOO_MANY)
        for raw in (first, second, third):
            raw.close()
        await asyncio.sleep(0.1)
        fourth = await Raw.connect(world.port)
        assert (await fourth.reply()).startswith("220")
        fourth.close()


class TestTls:
    async def test_starttls_offered_and_used(
        self, make_world: WorldFactory, certificates: Certificates
    ) -> None:
        """With a certificate configured, STARTTLS is offered and mail flows over it."""
        world = await make_world(server={
            "tls_cert": str(certificates.cert_file), "tls_key": str(certificates.key_file),
            "require_tls": True,
        })
        context = ssl.create_default_context(cafile=str(certificates.ca_file))
        async with aiosmtplib.SMTP(hostname="localhost", port=world.port,
                                   tls_context=context, start_tls=True) as client:
            assert client.get_transport_info("sslcontext") is not None
            await client.sendmail(SELLER, [world.aliases.buyer_alias],
                                  compose(SELLER, world.aliases.buyer_alias))
        assert len(await world.upstream.handler.wait_for(1)) == 1

    async def test_plain_text_refused_when_tls_required(
        self, make_world: WorldFactory, certificates: Certificates
    ) -> None:
        world = await make_world(server={
            "tls_cert": str(certificates.cert_file), "tls_key": str(certificates.key_file),
            "require_tls": True,
        })
        raw = await Raw.connect(world.port)
        await raw.reply()
        await raw.say(b"EHLO client.example\r\n")
        assert (await raw.say(f"MAIL FROM:<{SELLER}>\r\n".encode())).startswith("530")
        raw.close()

    async def test_pipelined_commands_before_tls_are_discarded(
        self, make_world: WorldFactory, certificates: Certificates
    ) -> None:
        """Commands sent in the clear with STARTTLS never run inside the TLS session."""
        world = await make_world(server={
            "tls_cert": str(certificates.cert_file), "tls_key": str(certificates.key_file),
        })
        raw = await Raw.connect(world.port)
        await raw.reply()
        await raw.say(b"EHLO client.example\r\n")
        answer = await raw.say(f"STARTTLS\r\nMAIL FROM:<{SELLER}>\r\n".encode())
        assert answer.startswith("220")
        context = ssl.create_default_context(cafile=str(certificates.ca_file))
        await raw.writer.start_tls(context, server_hostname="localhost")
        # The injected MAIL must not have started a transaction: RCPT needs MAIL first.
        await raw.say(b"EHLO client.example\r\n")
        assert (await raw.say(f"RCPT TO:<{world.aliases.buyer_alias}>\r\n".encode())
                ).startswith("503")
        raw.close()
