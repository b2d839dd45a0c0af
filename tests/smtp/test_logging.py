"""The log of real SMTP sessions: each refusal once, the transaction on every line, no address."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from relay import logs, replies
from relay.config.settings import LoggingSettings
from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory, compose
from tests.smtp.test_protocol import Raw

# Events of a session or a delivery (not those of the process: started, heartbeat).
_PER_MESSAGE = ("smtp.", "mail.", "data.", "session.", "delivery.", "notice.")
HIDDEN = ("victim", "gmail", "owner@", "bob.buyer", "intern@")


class Lines:
    def __init__(self) -> None:
        self.out = io.StringIO()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["event"] == name]


@pytest.fixture
def lines() -> Iterator[Lines]:
    """structlog as `relay serve` sets it up (JSON, addresses masked), into a buffer."""
    captured = Lines()
    structlog.configure(
        processors=logs.processors(LoggingSettings(), "relay.example"),
        logger_factory=structlog.PrintLoggerFactory(file=captured.out),
        cache_logger_on_first_use=False,
    )
    yield captured
    structlog.reset_defaults()


async def _session(world: World) -> list[tuple[int, str]]:
    """A session full of refusals, aiosmtpd's own included, then one good message."""
    limit = world.relay.settings.server.max_message_size
    alias = world.aliases.buyer_alias
    big = compose(SELLER, alias, body=("x" * 900 + "\n") * (limit // 900 + 2))
    refused: list[tuple[int, str]] = []
    async with Client(world.port) as c:
        for answer in (
            await c.command("MAIL", f"FROM:<{SELLER}>", f"SIZE={limit + 1}"),  # aiosmtpd's 552
            await c.command("MAIL", "TO:<victim@gmail.com>"),  # aiosmtpd's 501 syntax
            await c.command("MAIL", "FROM:<@gmail.com,victim@gmail.com>"),  # 553
            await c.mail("intern@acme-shop.example"),
            await c.rcpt(alias),  # 550: not an authorised address, named in the reply
            await c.command("RSET"),
            await c.mail(SELLER),
            await c.rcpt("victim%gmail.com@relay.example"),
            await c.rcpt("gmail.com!victim@relay.example"),
            await c.command("RCPT", "TO:<@relay.example:victim@gmail.com>"),
            await c.command("RCPT", 'TO:<"victim@gmail.com"@relay.example>'),
            await c.command("RCPT", "TO:<victim@[192.0.2.1]>"),
            await c.rcpt(alias),
            await c.data(big),  # 552 after DATA
            await c.mail(SELLER),
            await c.rcpt(alias),
            await c.data(compose(SELLER, alias)),
        ):
            if answer.code >= 400:
                refused.append((answer.code, answer.text))
            last = answer
    assert last.code == 250
    await world.upstream.handler.wait_for(1)
    return refused


class TestSessionLog:
    async def test_each_refusal_once_with_its_code(self, lines: Lines, world: World) -> None:
        refused = await _session(world)
        assert [code for code, _ in refused] == [552, 501, 553, 550, 550, 550, 550, 550, 550, 552]
        logged = lines.events("smtp.refused")
        assert [line["code"] for line in logged] == [code for code, _ in refused]
        for line, (code, text) in zip(logged, refused, strict=True):
            # The same reply, but for the address it may name, which is masked.
            assert line["reply"][:10] == f"{code} {text}"[:10]
            assert line["reply"].endswith(text[-25:])

    async def test_every_line_names_its_transaction(self, lines: Lines, world: World) -> None:
        """Session and delivery lines carry `tx`; the accepted message's lines its own id."""
        await _session(world)
        for _ in range(100):  # the upstream has it; the worker's commit and line follow
            if lines.events("delivery.done"):
                break
            await asyncio.sleep(0.05)
        session = [line for line in lines.all() if line["event"].startswith(_PER_MESSAGE)]
        assert len(session) > 10
        assert all(len(line.get("tx", "")) == 32 for line in session), session
        (accepted,) = lines.events("data.accepted")
        (done,) = lines.events("delivery.done")
        assert done["tx"] == accepted["tx"]
        assert accepted["tx"] not in {line["tx"] for line in lines.events("smtp.refused")}

    async def test_no_real_address_in_any_form(self, lines: Lines, world: World) -> None:
        """Not in clear, not as a %-hack, !-path, source route or quoted local part."""
        await _session(world)
        text = lines.out.getvalue()
        assert "smtp.refused" in text
        assert "mail.from" in text
        for hidden in HIDDEN:
            assert hidden not in text
        assert BUYER.split("@")[0] not in text

    async def test_replies_written_past_push(self, lines: Lines,
                                             make_world: WorldFactory) -> None:
        """The 421s written straight to the socket (too many, idle) are logged once too."""
        world = await make_world(server={"max_connections": 1, "timeout": "300ms"})
        first = await Raw.connect(world.port)
        await first.reply()
        second = await Raw.connect(world.port)
        assert await second.reply() == str(replies.S421_TOO_MANY)
        assert await first.reply() == str(replies.S421_TIMEOUT)
        for raw in (first, second):
            raw.close()
        logged = lines.events("smtp.refused")
        assert sorted(line["reply"] for line in logged) == sorted(
            [str(replies.S421_TOO_MANY), str(replies.S421_TIMEOUT)])
        assert all(len(line["tx"]) == 32 for line in logged)
