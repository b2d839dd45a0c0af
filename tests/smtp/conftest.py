"""A whole relay on 127.0.0.1 in front of a real STARTTLS+AUTH upstream, per test."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import structlog

from relay.app import Relay
from relay.model import Aliases
from tests.conftest import SettingsFactory
from tests.smtp.upstream import PASSWORD, USERNAME, Certificates, Upstream, make_certificates

SELLER = "owner@acme-shop.example"
SELLER_STAFF = "staff@acme-shop.example"
BUYER = "bob.buyer@mailbox.example"
OTHER_SELLER = "boss@rival-store.example"


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


@pytest.fixture
async def upstream(certificates: Certificates) -> AsyncIterator[Upstream]:
    server = Upstream(certificates)
    await server.start()
    yield server
    await server.stop()


@dataclass
class World:
    relay: Relay
    upstream: Upstream
    aliases: Aliases

    @property
    def port(self) -> int:
        return self.relay.address[1]


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(
    make_settings: SettingsFactory, store_url: str, upstream: Upstream,
    certificates: Certificates, tmp_path: Path,
) -> AsyncIterator[WorldFactory]:
    """Start a relay (settings overridable) with seller s1 (two addresses), buyer b1,
    order o1 and another seller s2, delivering to the upstream sink."""
    password_file = tmp_path / "upstream-password"
    password_file.write_text(PASSWORD + "\n")
    started: list[Relay] = []

    async def factory(**sections: dict[str, Any]) -> World:
        base: dict[str, dict[str, Any]] = {
            "store": {"url": store_url},
            "upstream": {
                "kind": "smtp", "host": "localhost", "port": upstream.port, "tls": "starttls",
                "username": USERNAME, "password_file": str(password_file),
                "ca_file": str(certificates.ca_file), "timeout": "10s",
            },
            "queue": {"backoff": ["1s"], "workers": 2},
        }
        for name, values in sections.items():
            base[name] = {**base.get(name, {}), **values}
        relay = Relay(make_settings(**base))
        store = relay.store
        await store.directory.put_seller("s1", "Acme Shop", SELLER)
        await store.directory.authorise("s1", SELLER_STAFF)
        await store.directory.put_seller("s2", "Rival Store", OTHER_SELLER)
        await store.directory.put_buyer("b1", BUYER, "Bob Buyer")
        await store.directory.put_order("o1", "b1", "s1")
        aliases = await store.directory.aliases("b1", "s1")
        await relay.start()
        started.append(relay)
        return World(relay, upstream, aliases)

    yield factory
    for relay in started:
        await relay.stop(drain=1)


@pytest.fixture
async def world(make_world: WorldFactory) -> World:
    return await make_world()


@dataclass(frozen=True)
class Answer:
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class Client:
    """An SMTP client that reports every reply instead of raising."""

    def __init__(self, port: int) -> None:
        self.smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10)

    async def __aenter__(self) -> Client:
        await self.smtp.connect()
        await self.smtp.ehlo()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.smtp.close()

    async def command(self, *words: str) -> Answer:
        response = await self.smtp.execute_command(*(w.encode() for w in words))
        return Answer(response.code, response.message)

    async def mail(self, sender: str) -> Answer:
        return await self.command("MAIL", f"FROM:<{sender}>")

    async def rcpt(self, recipient: str) -> Answer:
        return await self.command("RCPT", f"TO:<{recipient}>")

    async def data(self, message: bytes) -> Answer:
        try:
            response = await self.smtp.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            return Answer(exc.code, exc.message)
        return Answer(response.code, response.message)

    async def send(self, sender: str, recipient: str, message: bytes) -> Answer:
        """One whole transaction; the first refusal is the answer."""
        for step in (self.mail(sender), self.rcpt(recipient)):
            answer = await step
            if answer.code >= 400:
                await self.command("RSET")
                return answer
        return await self.data(message)


def compose(
    sender: str, to: str, subject: str = "Your order", body: str = "Hello there.\n",
    extra: str = "", message_id: str | None = None,
) -> bytes:
    """A plain message as a mail client would write it (CRLF line endings)."""
    message_id = message_id or make_msgid(domain="client.example")
    text = (
        f"From: Someone <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: {message_id}\r\n"
        f"MIME-Version: 1.0\r\n{extra}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")
    )
    return text.encode()


@pytest.fixture
def quiet_relay_logs() -> Iterator[None]:
    """The relay under test shares stdout with the CLI: quiet it, and put structlog back."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    yield
    structlog.reset_defaults()
