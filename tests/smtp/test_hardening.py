"""The MX's hardening over raw sockets: per-client sessions, command budgets, address limits,
control characters, NUL in DATA, and no AUTH (SPEC §6 "Hardening an MX")."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl

import pytest

from relay import replies
from relay.smtp.limits import MAX_COMMANDS, MAX_ERRORS, MAX_JUNK
from tests.smtp.conftest import SELLER, Client, World, WorldFactory, compose
from tests.smtp.test_protocol import Raw
from tests.smtp.upstream import Certificates


class Session(Raw):
    @classmethod
    async def open(cls, port: int, source: str = "127.0.0.1") -> Session:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        return cls(reader, writer)

    async def lines(self) -> list[str]:
        """Every line of one reply."""
        out = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode().rstrip("\r\n")
            out.append(line)
            if len(line) < 4 or line[3] != "-":
                return out

    async def ehlo(self) -> list[str]:
        self.writer.write(b"EHLO client.example\r\n")
        return await self.lines()

    async def closed(self) -> bool:
        """Whether the relay closed the connection (nothing more to read); closes our end."""
        rest = await asyncio.wait_for(self.reader.read(), 10)
        self.close()
        return rest == b""


async def greeted(world: World, source: str = "127.0.0.1") -> Session:
    session = await Session.open(world.port, source)
    assert (await session.reply()).startswith("220")
    return session


async def deliver_one(session: Session, world: World) -> None:
    """One whole accepted message on `session`."""
    alias = world.aliases.buyer_alias
    assert (await session.say(f"MAIL FROM:<{SELLER}>\r\n".encode())).startswith("250")
    assert (await session.say(f"RCPT TO:<{alias}>\r\n".encode())).startswith("250")
    assert (await session.say(b"DATA\r\n")).startswith("354")
    assert (await session.say(compose(SELLER, alias) + b".\r\n")).startswith("250")


class TestSessionsPerClient:
    async def test_one_client_cannot_take_every_session(self, make_world: WorldFactory) -> None:
        """Past server.max_connections_per_client a client hears 421 4.7.0; others still get in."""
        world = await make_world(server={"max_connections_per_client": 2})
        first, second = await greeted(world), await greeted(world)
        third = await Session.open(world.port)
        assert await third.reply() == str(replies.S421_TOO_MANY_FROM_CLIENT)
        assert await third.closed()
        other = await greeted(world, source="127.0.0.2")
        first.close()
        await asyncio.sleep(0.1)
        again = await greeted(world)
        for session in (second, other, again, third):
            session.close()

    async def test_the_limit_follows_a_reload(self, make_world: WorldFactory) -> None:
        """SIGHUP's reload applies the new limit to the next connection, as max_connections."""
        world = await make_world(server={"max_connections_per_client": 3})
        first = await greeted(world)
        settings = world.relay.settings
        await world.relay.reload(dataclasses.replace(
            settings, server=dataclasses.replace(settings.server, max_connections_per_client=1)))
        second = await Session.open(world.port)
        assert await second.reply() == str(replies.S421_TOO_MANY_FROM_CLIENT)
        first.close()
        second.close()


class TestBudgets:
    async def test_errors_end_the_session(self, make_world: WorldFactory) -> None:
        """The MAX_ERRORS-th refused command is answered, then 421 4.7.0 and the end."""
        world = await make_world()
        session = await greeted(world)
        await session.ehlo()
        rcpt = f"RCPT TO:<{world.aliases.buyer_alias}>\r\n".encode()  # before MAIL: 503
        for _ in range(MAX_ERRORS - 1):
            assert (await session.say(rcpt)).startswith("503")
        assert (await session.say(rcpt)).startswith("503")
        assert await session.reply() == str(replies.S421_TOO_MANY_ERRORS)
        assert await session.closed()

    async def test_an_accepted_message_renews_the_budgets(self, make_world: WorldFactory) -> None:
        world = await make_world()
        session = await greeted(world)
        await session.ehlo()
        for _ in range(MAX_ERRORS - 1):
            assert (await session.say(b"RCPT TO:<x@relay.example>\r\n")).startswith("503")
        for _ in range(MAX_JUNK - 2):
            assert (await session.say(b"NOOP\r\n")).startswith("250")
        await deliver_one(session, world)
        for _ in range(MAX_ERRORS - 1):
            assert (await session.say(b"RCPT TO:<x@relay.example>\r\n")).startswith("503")
        for _ in range(MAX_JUNK - 1):
            assert (await session.say(b"NOOP\r\n")).startswith("250")
        assert (await session.say(b"QUIT\r\n")).startswith("221")
        session.close()

    async def test_unknown_commands_end_the_session(self, make_world: WorldFactory) -> None:
        """aiosmtpd's own budget of five unknown commands, answered 421 instead of 502."""
        world = await make_world()
        session = await greeted(world)
        for _ in range(4):
            assert (await session.say(b"XYZZY\r\n")).startswith("500")
        assert await session.say(b"XYZZY\r\n") == str(replies.S421_TOO_MANY_ERRORS)
        assert await session.closed()

    async def test_commands_that_deliver_nothing_end_the_session(
        self, make_world: WorldFactory
    ) -> None:
        """NOOP, RSET, EHLO, HELO ...: MAX_JUNK of them, then 421; pipelined ones with them."""
        world = await make_world()
        session = await greeted(world)
        junk = [b"NOOP\r\n", b"RSET\r\n", b"EHLO client.example\r\n", b"HELO client.example\r\n"]
        session.writer.write(b"".join(junk[i % len(junk)] for i in range(MAX_JUNK)))
        session.writer.write(b"NOOP\r\n" + f"MAIL FROM:<{SELLER}>\r\n".encode())
        for _ in range(MAX_JUNK):
            assert (await session.lines())[-1].startswith("250")
        assert await session.reply() == str(replies.S421_TOO_MANY_COMMANDS)
        assert await session.closed()  # the MAIL behind the 421 got no answer

    async def test_a_session_without_a_message_has_a_command_budget(
        self, make_world: WorldFactory
    ) -> None:
        """RCPT to the same alias again and again is no error and no junk, and still ends."""
        world = await make_world()
        session = await greeted(world)
        session.writer.write(b"EHLO client.example\r\n" + f"MAIL FROM:<{SELLER}>\r\n".encode())
        rcpt = f"RCPT TO:<{world.aliases.buyer_alias}>\r\n".encode()
        session.writer.write(rcpt * (MAX_COMMANDS - 1))
        await session.lines()
        for _ in range(MAX_COMMANDS - 1):
            assert (await session.reply()).startswith("250")
        assert await session.say(b"DATA\r\n") == str(replies.S421_TOO_MANY_COMMANDS)
        assert await session.closed()


class TestAddresses:
    @pytest.mark.parametrize(("local", "domain", "allowed"), [
        ("a" * 64, "acme-shop.example", True),
        ("a" * 65, "acme-shop.example", False),
        ("a", "d" * 244 + ".example", True),  # a 254-octet address: a 256-octet path
        ("ab", "d" * 244 + ".example", False),
    ])
    async def test_rfc_5321_lengths(
        self, make_world: WorldFactory, local: str, domain: str, allowed: bool
    ) -> None:
        """Local part 64 octets, path 256: one more is 553 5.1.7 at MAIL, 553 5.1.3 at RCPT."""
        world = await make_world()
        address = f"{local}@{domain}"
        session = await greeted(world)
        await session.ehlo()
        mail = await session.say(f"MAIL FROM:<{address}>\r\n".encode())
        assert (mail == str(replies.S553_SENDER_TOO_LONG)) is not allowed, mail
        await session.say(b"RSET\r\n")
        await session.say(f"MAIL FROM:<{SELLER}>\r\n".encode())
        rcpt = await session.say(f"RCPT TO:<{local}@{domain}>\r\n".encode())
        assert (rcpt == str(replies.S553_RECIPIENT_TOO_LONG)) is not allowed, rcpt
        session.close()

    async def test_a_command_line_past_512_octets(self, world: World) -> None:
        """aiosmtpd's RFC 5321 §4.5.3.1.4 limit, before any address is read."""
        session = await greeted(world)
        await session.ehlo()
        line = f"MAIL FROM:<{'a' * 600}@acme-shop.example>\r\n".encode()
        assert await session.say(line) == "500 Command line too long"
        assert (await session.say(f"MAIL FROM:<{SELLER}>\r\n".encode())).startswith("250")
        session.close()

    async def test_control_characters_in_mail_and_rcpt(self, make_world: WorldFactory) -> None:
        """Every C0 byte but LF (which ends the line) and DEL, inside MAIL or RCPT: 501."""
        world = await make_world()
        alias = world.aliases.buyer_alias
        controls = [c for c in [*range(0x20), 0x7F] if c != 0x0A]
        session = await greeted(world)
        for count, code in enumerate(controls):
            if count % (MAX_ERRORS // 2 - 1) == 0:  # two refusals each: stay within budget
                session.close()
                session = await greeted(world)
                await session.ehlo()
            char = chr(code)
            mail = await session.say(f"MAIL FROM:<own{char}er@acme-shop.example>\r\n".encode())
            assert mail == str(replies.S501_CONTROL_CHARACTER), (code, mail)
            assert (await session.say(f"MAIL FROM:<{SELLER}>\r\n".encode())).startswith("250")
            local, _, domain = alias.partition("@")
            rcpt = await session.say(f"RCPT TO:<{local}{char}@{domain}>\r\n".encode())
            assert rcpt == str(replies.S501_CONTROL_CHARACTER), (code, rcpt)
            await session.say(b"RSET\r\n")
        session.close()


class TestData:
    async def test_nul_in_data_is_refused(self, world: World) -> None:
        message = compose(SELLER, world.aliases.buyer_alias, body="Hello\x00there.\n")
        async with Client(world.port) as client:
            answer = await client.send(SELLER, world.aliases.buyer_alias, message)
            assert str(answer) == str(replies.S550_NUL)
            clean = compose(SELLER, world.aliases.buyer_alias)
            assert (await client.send(SELLER, world.aliases.buyer_alias, clean)).code == 250
        delivered = await world.upstream.handler.wait_for(1)
        assert len(delivered) == 1
        assert b"\x00" not in delivered[0].data


class TestNoAuth:
    async def test_no_auth_in_the_clear(self, world: World) -> None:
        session = await greeted(world)
        assert not [line for line in await session.ehlo() if "AUTH" in line.upper()]
        auth = await session.say(b"AUTH PLAIN AHJlbGF5AHNlY3JldA==\r\n")
        assert auth == str(replies.S502_NO_AUTH)
        help_text = await session.say(b"HELP\r\n")
        assert "AUTH" not in help_text
        assert {"MAIL", "RCPT", "DATA"} <= set(help_text.split()), help_text
        session.close()

    async def test_no_auth_over_tls(
        self, make_world: WorldFactory, certificates: Certificates
    ) -> None:
        """aiosmtpd offers AUTH once TLS is up; relay does not, and refuses it 502."""
        world = await make_world(server={
            "tls_cert": str(certificates.cert_file), "tls_key": str(certificates.key_file),
        })
        session = await greeted(world)
        assert any("STARTTLS" in line for line in await session.ehlo())
        assert (await session.say(b"STARTTLS\r\n")).startswith("220")
        context = ssl.create_default_context(cafile=str(certificates.ca_file))
        await session.writer.start_tls(context, server_hostname="localhost")
        lines = await session.ehlo()
        assert lines[0].startswith("250-")
        assert lines[-1].startswith("250 ")
        assert not [line for line in lines if "AUTH" in line.upper()], lines
        assert await session.say(b"AUTH LOGIN\r\n") == str(replies.S502_NO_AUTH)
        assert (await session.say(f"MAIL FROM:<{SELLER}>\r\n".encode())).startswith("250")
        session.close()
