"""A real upstream SMTP server for tests: STARTTLS and AUTH required, answers on demand.

Certificates come from trustme at test time; the relay verifies them against the
test CA exactly as it would verify a production smarthost.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "relay"
PASSWORD = "s3cret-upstream-password"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)
    helo: str | None = None  # the name the client gave in EHLO/HELO


@dataclass
class UpstreamHandler:
    """Records what it is given; `rcpt_reply`/`data_reply` make it refuse on demand."""

    messages: list[Received] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> RCPT reply
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        assert envelope.mail_from is not None
        assert envelope.original_content is not None
        self.messages.append(Received(
            envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
            list(envelope.mail_options), session.host_name,
        ))
        self.arrived.set()
        return "250 OK queued"

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        async with asyncio.timeout(seconds):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.messages


@dataclass
class Stalling(UpstreamHandler):
    """An upstream that leaves every RCPT unanswered until `go` is set.

    A relay cut off or killed meanwhile has sent nothing past RCPT, so the
    message is not delivered; `dropped` is set when a stalled session is cut.
    """

    go: asyncio.Event = field(default_factory=asyncio.Event)
    stalled: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        options: list[str],
    ) -> str:
        self.stalled.set()
        try:
            await self.go.wait()
        except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client goes
            self.dropped.set()
            raise
        return await super().handle_RCPT(server, session, envelope, address, options)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok)


@dataclass
class Certificates:
    ca: trustme.CA
    ca_file: Path
    server_context: ssl.SSLContext
    cert_file: Path
    key_file: Path


def make_certificates(directory: Path) -> Certificates:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return Certificates(ca, ca_file, context, cert_file, key_file)


class Upstream:
    """The sink as a server that can be stopped and started again on the same port."""

    def __init__(self, certificates: Certificates) -> None:
        self.handler = UpstreamHandler()
        self._tls = certificates.server_context
        self._server: asyncio.Server | None = None
        self.port = 0
        self.connections = 0
        self.smtputf8 = False  # offered to sessions that start after it is set
        self._sessions: list[SMTP] = []

    def _protocol(self) -> SMTP:
        self.connections += 1
        session = SMTP(
            self.handler,
            hostname="localhost",
            tls_context=self._tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=_authenticate,
            enable_SMTPUTF8=self.smtputf8,
        )
        self._sessions.append(session)
        return session

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and cut every open session, as a crashed server would."""
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
