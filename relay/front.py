"""The SMTP front: translates aiosmtpd's hooks into pipeline runs and replies back into lines.

It decides nothing itself; steps decide, `Acceptor` commits, and only after that
commit does a client hear 250.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any, AnyStr

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from relay import replies
from relay.addresses import normalise_address
from relay.data_reader import read_data
from relay.message import Transaction, has_bare_line_ending, new_id
from relay.pipeline import Pipeline, run
from relay.replies import Deferred, Refused, Reply

log = structlog.get_logger("relay.front")

Accept = Callable[[Transaction], Awaitable[None]]


class RelayEnvelope(Envelope):
    """aiosmtpd's envelope, carrying our Transaction from MAIL to DATA."""

    def __init__(self) -> None:
        super().__init__()
        self.tx: Transaction | None = None


class Front:
    """The aiosmtpd handler. aiosmtpd finds hooks by name, so the names are the contract."""

    def __init__(self, pipeline: Pipeline, accept: Accept) -> None:
        self._pipeline = pipeline
        self._accept = accept
        self.stopping = False

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: RelayEnvelope, address: str,
        options: list[str],
    ) -> str:
        if self.stopping:
            return str(replies.S421_SHUTTING_DOWN)
        try:
            # aiosmtpd hands over the null sender (RFC 5321 §4.5.5) as "<>".
            sender = "" if address in ("", "<>") else normalise_address(address)
        except ValueError:
            return str(replies.S553_BAD_SENDER)
        envelope.tx = Transaction(id=new_id(), peer=_peer(session), mail_from=sender)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        log.info("mail.from", tx=envelope.tx.id, peer=envelope.tx.peer, sender=sender)
        return str(replies.S250_SENDER_OK)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: RelayEnvelope, address: str,
        options: list[str],
    ) -> str:
        tx = envelope.tx
        assert tx is not None, "aiosmtpd asks for MAIL before RCPT"
        try:
            tx.candidate = normalise_address(address)
        except ValueError:
            return str(replies.S553_BAD_RECIPIENT)
        previous = tx.route
        try:
            await run(self._pipeline.rcpt, tx)
        except (Refused, Deferred) as stop:
            tx.route = previous
            log.info("rcpt.refused", tx=tx.id, rcpt=tx.candidate, reply=str(stop.reply))
            return str(stop.reply)
        if address not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
        return str(replies.S250_RCPT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: RelayEnvelope) -> str:
        tx = envelope.tx
        assert tx is not None, "aiosmtpd asks for MAIL before DATA"
        assert tx.route is not None, "aiosmtpd asks for RCPT before DATA"
        tx.received = envelope.original_content or b""
        try:
            reply = await self._data(tx)
        except Exception:
            # Never a 5xx carrying exception text: the sender's server retries.
            log.exception("data.failed", tx=tx.id)
            reply = replies.S451_INTERNAL
        return str(reply)

    async def _data(self, tx: Transaction) -> Reply:
        assert tx.route is not None
        try:
            if has_bare_line_ending(tx.received):
                raise Refused(replies.S550_BARE_LINE_ENDING)
            await run(self._pipeline.data[tx.route.kind], tx)
            await self._accept(tx)
        except (Refused, Deferred) as stop:
            log.info("data.refused", tx=tx.id, reply=str(stop.reply))
            return stop.reply
        log.info("data.accepted", tx=tx.id, kind=tx.route.kind, size=len(tx.received),
                 consumed=tx.consumed)
        if tx.consumed:
            return replies.S250_KEPT.but(f"{replies.S250_KEPT.text} as {tx.id}")
        return replies.S250_QUEUED.but(f"Message accepted for delivery as {tx.id}")

    async def handle_exception(self, error: Exception) -> str:
        log.error("session.failed", exc_info=error)
        return str(replies.S451_INTERNAL)


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


# aiosmtpd's own fixed replies, reworded with enhanced codes (RFC 3463).
_AIOSMTPD_REPLIES = {
    "552 Error: Too much mail data": replies.S552_TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": replies.S552_TOO_BIG,
}


class Connections:
    """Counts open sessions so the front can turn away the one too many."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: set[RelaySMTP] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, session: RelaySMTP) -> None:
        self.open.add(session)
        self._empty.clear()

    def discard(self, session: RelaySMTP) -> None:
        self.open.discard(session)
        if not self.open:
            self._empty.set()

    async def drained(self) -> None:
        await self._empty.wait()


class RelaySMTP(SMTP):
    """aiosmtpd's SMTP with relay's session limits and reply wording."""

    def __init__(self, handler: Front, connections: Connections, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._connections = connections
        self._turned_away = False

    def _create_envelope(self) -> RelayEnvelope:
        return RelayEnvelope()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # STARTTLS calls this again on the same session
        if first and len(self._connections.open) >= self._connections.limit:
            self._turned_away = True
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(f"{replies.S421_TOO_MANY}\r\n".encode())
            transport.close()
            return
        if first:
            self._connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._turned_away:
            return
        self._connections.discard(self)
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # aiosmtpd closes silently; RFC 5321 §4.2 wants a 421 first.
        self._say_and_close(replies.S421_TIMEOUT)

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status in _AIOSMTPD_REPLIES:
            await super().push(str(_AIOSMTPD_REPLIES[status]))
        else:
            await super().push(status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's own, less the typing.Protocol class it defines on every call.

        Making that class cost more than parsing the address, twice per message.
        """
        if not arg:
            return "", ""
        try:
            parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
            address, rest = parse(arg)
        except HeaderParseError:
            return None, None
        addr: str = address.addr_spec
        localpart = addr.rpartition("@")[0]
        if self.local_part_limit and len(localpart) > self.local_part_limit:
            return None, None
        return addr, rest

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with the body read in large pieces (see relay.data_reader).

        Replies, limits and the handler call are aiosmtpd's own.
        """
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            data = await read_data(self._reader, self.data_size_limit, self.line_length_limit)
        except asyncio.CancelledError:
            self._writer.close()  # the connection went away mid-DATA
            raise
        except asyncio.IncompleteReadError:
            self._writer.close()
            return
        if data.content is None:
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push("500 Line too long (see RFC5321 4.5.3.1.6)" if data.line_too_long
                            else "552 Error: Too much mail data")
            return
        self.envelope.content = self.envelope.original_content = data.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(status)

    @property
    def in_transaction(self) -> bool:
        return isinstance(self.envelope, RelayEnvelope) and self.envelope.tx is not None

    def close_idle(self) -> None:
        """Say goodbye to a client with no transaction in progress (shutdown)."""
        self._say_and_close(replies.S421_SHUTTING_DOWN)

    def _say_and_close(self, reply: Reply) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(f"{reply}\r\n".encode())
            transport.close()


def protocol_factory(
    front: Front,
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
            front,
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
