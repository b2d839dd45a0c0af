"""The listening side: connection accounting, the TLS context and the protocol factory."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from relay import replies
from relay.replies import Reply
from relay.smtp.handler import Handler
from relay.smtp.protocol import Counts, RelaySMTP


class Connections:
    """Counts open sessions, in all and per client address, to turn away the one too many.

    Both limits may change while sessions are open (SIGHUP): they apply to the next
    connection, and nobody already connected is cut off.
    """

    def __init__(self, limit: int, per_client: int) -> None:
        self.limit = limit
        self.per_client = per_client
        self.open: set[RelaySMTP] = set()
        self._client_of: dict[RelaySMTP, str] = {}
        self._per_client: dict[str, int] = {}
        self._empty = asyncio.Event()
        self._empty.set()

    def admit(self, session: RelaySMTP, client: str) -> Reply | None:
        """Count `session` in, or say why not: too many open, or too many from `client`."""
        if len(self.open) >= self.limit:
            return replies.S421_TOO_MANY
        if self._per_client.get(client, 0) >= self.per_client:
            return replies.S421_TOO_MANY_FROM_CLIENT
        self.open.add(session)
        self._client_of[session] = client
        self._per_client[client] = self._per_client.get(client, 0) + 1
        self._empty.clear()
        return None

    def discard(self, session: RelaySMTP) -> None:
        client = self._client_of.pop(session, None)
        if client is not None:
            left = self._per_client[client] - 1
            if left:
                self._per_client[client] = left
            else:
                del self._per_client[client]
        self.open.discard(session)
        if not self.open:
            self._empty.set()

    async def drained(self) -> None:
        await self._empty.wait()


def protocol_factory(
    handler: Handler,
    connections: Connections,
    counts: Counts,
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
            counts,
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
