"""Composition root: Settings in; store, pipeline, SMTP front and delivery workers out.

Nothing below this module reads settings on its own: each part gets its
section here. Tests build a whole relay in-process with `Relay(settings)`.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from contextlib import suppress

import structlog

from relay import logs, systemd
from relay.accept import Acceptor
from relay.config import Settings
from relay.content.delivered import Passthrough, Rewrite
from relay.content.threads import Threading
from relay.delivery.bounces import Bouncer
from relay.delivery.heartbeat import Heartbeat
from relay.delivery.reports import BounceReport
from relay.delivery.transport import Transport, create_transport
from relay.delivery.worker import Workers
from relay.front import Connections, Front, protocol_factory, server_tls_context
from relay.pipeline import Pipeline, Step
from relay.policy.automatic import Automatic
from relay.policy.loop import HopLimit
from relay.policy.recipient import Recipient
from relay.policy.sender import EnvelopeSender, HeaderSender
from relay.store import Store

log = structlog.get_logger("relay.app")

# How long SIGTERM waits for SMTP sessions in progress to finish.
DRAIN_SECONDS = 30.0


def build_pipeline(
    settings: Settings, store: Store, bouncer: Bouncer, verp_key: bytes
) -> Pipeline:
    """The whole policy in one screen: what runs, in order, for each kind of mail."""
    domain = settings.aliases.domain
    between_parties: tuple[Step, ...] = (
        HopLimit(settings.server.max_hops),
        HeaderSender(),
        Automatic(),
        Threading(store.messages),
        Rewrite(domain, settings.server.hostname),
    )
    return Pipeline(
        rcpt=(
            Recipient(store.directory, domain, settings.admin.address, verp_key),
            EnvelopeSender(store.directory),
        ),
        data={
            "seller-to-buyer": between_parties,
            "buyer-to-seller": between_parties,
            "admin": (HopLimit(settings.server.max_hops), Passthrough(settings.server.hostname)),
            "bounce": (HopLimit(settings.server.max_hops), BounceReport(bouncer)),
        },
    )


class Relay:
    def __init__(self, settings: Settings, transport: Transport | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.store.url, settings.aliases.length, settings.aliases.domain)
        self.transport = transport or create_transport(settings.upstream)
        self.bouncer = Bouncer(self.store.notices, settings.server.hostname,
                               settings.aliases.domain)
        self.workers = Workers(self.store.queue, self.transport, settings.queue, self.bouncer,
                               Heartbeat(self.store.processes))
        self.front: Front | None = None
        self.connections = Connections(settings.server.max_connections)
        self._server: asyncio.Server | None = None
        self._workers: asyncio.Task[None] | None = None
        self.address: tuple[str, int] = settings.server.address

    def _tls(self) -> ssl.SSLContext | None:
        s = self.settings.server
        if s.tls_cert is None or s.tls_key is None:
            return None
        return server_tls_context(str(s.tls_cert), str(s.tls_key))

    async def start(self) -> None:
        s, domain = self.settings.server, self.settings.aliases.domain
        verp_key = await self.store.secrets.key("verp")
        accept = Acceptor(self.store.messages, domain, verp_key, self.workers.wake)
        self.front = Front(build_pipeline(self.settings, self.store, self.bouncer, verp_key),
                           accept)
        factory = protocol_factory(
            self.front,
            self.connections,
            hostname=s.hostname,
            max_message_size=s.max_message_size,
            timeout=s.timeout,
            tls_context=self._tls(),
            require_tls=s.require_tls,
        )
        host, port = s.address
        self._server = await asyncio.get_running_loop().create_server(factory, host, port)
        self.address = self._server.sockets[0].getsockname()[:2]
        self._workers = asyncio.create_task(self.workers.run(), name="delivery-workers")
        log.info("relay.started", listen=f"{self.address[0]}:{self.address[1]}")

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop listening, let sessions in progress finish (bounded), then stop delivering."""
        if self._server is not None:
            self._server.close()
            if self.front is not None:
                self.front.stopping = True
            for session in list(self.connections.open):
                if not session.in_transaction:
                    session.close_idle()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.connections.drained(), drain)
            for session in list(self.connections.open):
                if session.transport is not None:
                    session.transport.close()
            await self._server.wait_closed()
        self.workers.stop()
        if self._workers is not None:
            await self._workers
        await self.transport.close()
        await self.store.close()
        log.info("relay.stopped")


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, telling systemd when ready and when stopping."""
    logs.configure(settings.logging, settings.aliases.domain)
    relay = Relay(settings)
    await relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    systemd.notify("READY=1")
    try:
        await stop.wait()
    finally:
        systemd.notify("STOPPING=1")
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(Exception):
                loop.remove_signal_handler(sig)
        await relay.stop()
