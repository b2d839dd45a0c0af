"""aiosmtpd's SMTP with relay's session limits, DATA reader, reply wording and refusal log.

Every method here overrides an aiosmtpd internal, so each says which aiosmtpd
it was written against; pyproject.toml bounds the version so that an upgrade
is a deliberate change, made after reading these against the new source.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any, AnyStr, Protocol, TypeVar

import structlog
from aiosmtpd.smtp import SMTP, Envelope

from relay import replies
from relay.message import Transaction, new_id
from relay.replies import Reply
from relay.smtp.data_reader import read_data
from relay.smtp.limits import JUNK, MAX_COMMANDS, MAX_ERRORS, MAX_JUNK, fold_reply, has_control

log = structlog.get_logger("relay.smtp")

# aiosmtpd's own fixed replies, reworded with enhanced codes (RFC 3463).
_AIOSMTPD_REPLIES = {
    "552 Error: Too much mail data": replies.S552_TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": replies.S552_TOO_BIG,
    # Its fixed budget of five unknown commands; it closes the connection after this line.
    "502 5.5.1 Too many unrecognized commands, goodbye.": replies.S421_TOO_MANY_ERRORS,
}


class RelayEnvelope(Envelope):
    """aiosmtpd's envelope, carrying our Transaction from MAIL to DATA.

    `tx_id` is given when the envelope is made, before MAIL, so that every log
    line of a session, a refused MAIL included, names the transaction it is in.
    """

    def __init__(self, tx_id: str) -> None:
        super().__init__()
        self.tx_id = tx_id
        self.tx: Transaction | None = None


class Counts(Protocol):
    """Refusals by rule (relay.metrics.Metrics): here, those aiosmtpd makes itself (size)."""

    def refused(self, reply: Reply) -> None: ...


class Sessions(Protocol):
    """Connection accounting (relay.smtp.server.Connections)."""

    def admit(self, session: RelaySMTP, client: str) -> Reply | None: ...
    def discard(self, session: RelaySMTP) -> None: ...


_Command = TypeVar("_Command", bound=Callable[..., Awaitable[None]])


def _help_of(original: Any) -> Callable[[_Command], _Command]:
    """Give an overriding command the HELP text aiosmtpd 1.4.6 keeps on the original.

    Its HELP lists only methods that carry that text (the `syntax` decorator's).
    """

    def copy(method: _Command) -> _Command:
        for name, value in vars(original).items():
            if name.startswith("__smtp_syntax"):
                setattr(method, name, value)
        return method

    return copy


class RelaySMTP(SMTP):
    def __init__(self, handler: Any, sessions: Sessions, counts: Counts, **kwargs: Any) -> None:
        self._sessions = sessions
        self._counts = counts
        self._turned_away = False
        self._closing = False
        self._errors = self._junk = self._commands = 0
        super().__init__(handler, **kwargs)
        # Written against aiosmtpd 1.4.6, which dispatches every known command
        # through this table (built in its __init__, read by HELP too).
        self._smtp_methods = {
            name: self._budgeted(name, method) for name, method in self._smtp_methods.items()
        }

    def _budgeted(
        self, name: str, method: Callable[[str | None], Awaitable[None]]
    ) -> Callable[[str | None], Awaitable[None]]:
        """`method`, run only while the session is within its command budgets (limits.py)."""

        @functools.wraps(method)  # keeps aiosmtpd's HELP text, kept on the method
        async def run(arg: str | None) -> None:
            if self._closing:  # commands pipelined behind a 421 are not run
                return
            self._commands += 1
            self._junk += name in JUNK
            if self._commands > MAX_COMMANDS or self._junk > MAX_JUNK:
                self._say_and_close(replies.S421_TOO_MANY_COMMANDS)
                return
            await method(arg)

        return run

    def _renew_budgets(self) -> None:
        """An accepted message: the client is delivering mail, its budgets start again."""
        self._errors = self._junk = self._commands = 0

    def _create_envelope(self) -> RelayEnvelope:
        """Written against aiosmtpd 1.4.6, which calls it at connect, RSET, STARTTLS and after DATA.

        An envelope that never saw MAIL passes its id on, so a session's resets
        before its first transaction do not use up ids.
        """
        previous = self.envelope
        if isinstance(previous, RelayEnvelope) and previous.tx is None:
            tx_id = previous.tx_id
        else:
            tx_id = new_id()
            structlog.contextvars.bind_contextvars(tx=tx_id)
        return RelayEnvelope(tx_id)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Written against aiosmtpd 1.4.6; it runs again on the same session after STARTTLS."""
        first = self.transport is None
        refusal = self._sessions.admit(self, _client(transport)) if first else None
        if refusal is not None:
            self._turned_away = True
            assert isinstance(transport, asyncio.WriteTransport)
            with structlog.contextvars.bound_contextvars(tx=new_id()):  # a session of its own
                _refused(refusal)
            transport.write(f"{refusal}\r\n".encode())
            transport.close()
            return
        # aiosmtpd starts the session's task in here: what is bound now, it inherits.
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        """Written against aiosmtpd 1.4.6, whose own needs the session a turned-away one lacks."""
        if self._turned_away:
            return
        self._sessions.discard(self)
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        """Written against aiosmtpd 1.4.6, which closes silently: RFC 5321 §4.2 wants a 421."""
        self._say_and_close(replies.S421_TIMEOUT)

    async def push(self, status: AnyStr) -> None:
        """Written against aiosmtpd 1.4.6, which writes every reply through here.

        So every refusal, aiosmtpd's own included (syntax, SIZE, too much data),
        is logged here, once, with the reply it got.
        """
        error = False
        if isinstance(status, str):
            own = _AIOSMTPD_REPLIES.get(status)
            if own is not None:
                status = str(own)
                if own.rule is not None:  # a message refused for its size
                    self._counts.refused(own)
            if status[:1] in ("4", "5"):
                log.info("smtp.refused", code=int(status[:3]), reply=status)
                error = not status.startswith("421")  # a 421 closes the session anyway
            status = fold_reply(status)
        await super().push(status)
        if error:
            self._errors += 1
            if self._errors >= MAX_ERRORS:
                self._say_and_close(replies.S421_TOO_MANY_ERRORS)

    @_help_of(SMTP.smtp_MAIL)
    async def smtp_MAIL(self, arg: str | None) -> None:
        """aiosmtpd 1.4.6's MAIL, after a check for control characters it lets through."""
        if arg is not None and has_control(arg):
            await self.push(str(replies.S501_CONTROL_CHARACTER))
            return
        await super().smtp_MAIL(arg)

    @_help_of(SMTP.smtp_RCPT)
    async def smtp_RCPT(self, arg: str | None) -> None:
        """aiosmtpd 1.4.6's RCPT, after a check for control characters it lets through."""
        if arg is not None and has_control(arg):
            await self.push(str(replies.S501_CONTROL_CHARACTER))
            return
        await super().smtp_RCPT(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        """Replaces aiosmtpd 1.4.6's AUTH, which answers once TLS is up: an MX takes no login.

        Having no HELP text of its own, it is not listed as a supported command either.
        """
        await self.push(str(replies.S502_NO_AUTH))

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd 1.4.6's own, less the typing.Protocol class it defines on every call.

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

    @_help_of(SMTP.smtp_DATA)
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd 1.4.6's DATA with the body read in large pieces (see data_reader).

        Replies, limits and the handler call are aiosmtpd's own; the state is reset
        after the reply, not before it.
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
            status = ("500 Line too long (see RFC5321 4.5.3.1.6)" if data.line_too_long
                      else "552 Error: Too much mail data")
        else:
            self.envelope.content = self.envelope.original_content = data.content
            status = await self._call_handler_hook("DATA")
            if status.startswith("250"):
                self._renew_budgets()
        # The reply first, while the transaction's id is still bound; the next
        # command is read only after this returns, so the client sees no difference.
        await self.push(status)
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        if getattr(self.event_handler, "stopping", False):
            self.close_idle()  # draining: this was the transaction it waited for

    @property
    def in_transaction(self) -> bool:
        return isinstance(self.envelope, RelayEnvelope) and self.envelope.tx is not None

    def close_idle(self) -> None:
        """Say goodbye to a client with no transaction in progress (shutdown)."""
        self._say_and_close(replies.S421_SHUTTING_DOWN)

    def _say_and_close(self, reply: Reply) -> None:
        self._closing = True
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            # Also called from outside the session's task (the shutdown's drain),
            # where its tx is not bound: the line names the session all the same.
            envelope = self.envelope
            tx = envelope.tx_id if isinstance(envelope, RelayEnvelope) else new_id()
            with structlog.contextvars.bound_contextvars(tx=tx):
                _refused(reply)
            transport.write(f"{fold_reply(str(reply))}\r\n".encode())
            transport.close()


def _client(transport: asyncio.BaseTransport) -> str:
    """The client's IP address: the unit of the per-client session limit."""
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)


def _refused(reply: Reply) -> None:
    """The log line for a reply written straight to the transport, not through push."""
    log.info("smtp.refused", code=reply.code, reply=str(reply))
