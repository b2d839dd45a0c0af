"""The listening side: connection accounting, the TLS context and the protocol factory."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from relay.smtp.handler import Handler
from relay.smtp.protocol import RelaySMTP


class Connections:
    """Counts open sessions so the front can turn away the one too many."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: set[RelaySMTP] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def admit(self, session: RelaySMTP) -> bool:
        """Count `session` in, unless `limit` are open already."""
        if len(self.open) >= self.limit:
            return False
        self.open.add(session)
        self._empty.clear()
        return True

    def discard(self, session: RelaySMTP) -> None:
        self.open.discard(session)
        if not self.open:
            self._empty.set()

    async def drained(self) -> None:
        await self._empty.wait()


def protocol_factory(
    handler: Handler,
    connections: Connections,
    *,
    hostname: str,
    max_message_size: int,
    timeout: float,
    tls_context: ssl.SSLContext | None,
    require_tls: bool,
) -> Callable[[], RelaySMTP]:
    def factory() -> RelaySMTP:
        return RelaySMTP(
            handler,
            connections,
            hostname=hostname,
            data_size_limit=max_message_size,
            timeout=timeout,
            tls_context=tls_context,
            require_starttls=require_tls,
            ident="relay",
        )

    return factory


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
