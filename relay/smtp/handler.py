"""The aiosmtpd handler: hooks in, intake calls out, outcomes and refusals back as reply lines.

It decides nothing itself: intake runs the steps and the 250 boundary, and only
after that commit does a client hear 250. Refusals are logged once, where the
protocol writes the reply (relay.smtp.protocol), not here.
"""

from __future__ import annotations

import structlog
from aiosmtpd.smtp import SMTP, Session

from relay import replies
from relay.addresses import normalise_address
from relay.intake import Intake
from relay.message import Transaction
from relay.model import SmtpClient
from relay.replies import Deferred, Refused
from relay.smtp.limits import too_long
from relay.smtp.protocol import RelayEnvelope

log = structlog.get_logger("relay.smtp")


class Handler:
    """aiosmtpd finds hooks by name, so the names are the contract."""

    def __init__(self, intake: Intake) -> None:
        self._intake = intake
        self.stopping = False

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: RelayEnvelope, hostname: str,
        responses: list[str],
    ) -> list[str]:
        """aiosmtpd 1.4.6's EHLO lines less AUTH, which it offers once TLS is up.

        Nobody logs in to an MX: an AUTH offered is only a password-guessing target.
        A hook that takes `responses` must record the client's name itself.
        """
        session.host_name = hostname
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: RelayEnvelope, address: str,
        options: list[str],
    ) -> str:
        if self.stopping:
            return str(replies.S421_SHUTTING_DOWN)
        if too_long(address):
            return str(replies.S553_SENDER_TOO_LONG)
        try:
            # aiosmtpd hands over the null sender (RFC 5321 §4.5.5) as "<>".
            sender = "" if address in ("", "<>") else normalise_address(address)
        except ValueError:
            return str(replies.S553_BAD_SENDER)
        envelope.tx = Transaction(id=envelope.tx_id, peer=_peer(session), mail_from=sender,
                                  client=_client(session))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        log.info("mail.from", peer=envelope.tx.peer, sender=sender)
        return str(replies.S250_SENDER_OK)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: RelayEnvelope, address: str,
        options: list[str],
    ) -> str:
        tx = envelope.tx
        assert tx is not None, "aiosmtpd asks for MAIL before RCPT"
        if too_long(address):
            return str(replies.S553_RECIPIENT_TOO_LONG)
        try:
            candidate = normalise_address(address)
        except ValueError:
            return str(replies.S553_BAD_RECIPIENT)
        try:
            await self._intake.recipient(tx, candidate)
        except (Refused, Deferred) as stop:
            return str(stop.reply)
        if address not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(options)
        return str(replies.S250_RCPT_OK)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: RelayEnvelope) -> str:
        tx = envelope.tx
        assert tx is not None, "aiosmtpd asks for MAIL before DATA"
        tx.received = envelope.original_content or b""
        try:
            outcome = await self._intake.data(tx)
        except (Refused, Deferred) as stop:
            return str(stop.reply)
        except Exception:
            # Never a 5xx carrying exception text: the sender's server retries.
            log.exception("data.failed")
            return str(replies.S451_INTERNAL)
        if outcome.queued:
            return f"{replies.S250_QUEUED.but(f'Message accepted for delivery as {outcome.id}')}"
        return str(replies.S250_KEPT.but(f"{replies.S250_KEPT.text} as {outcome.id}"))

    async def handle_exception(self, error: Exception) -> str:
        log.error("session.failed", exc_info=error)
        return str(replies.S451_INTERNAL)


def _client(session: Session) -> SmtpClient:
    peer = session.peer
    ip = peer[0] if isinstance(peer, tuple) and peer else str(peer)
    return SmtpClient(ip=str(ip), helo=session.host_name or "")


def _peer(session: Session) -> str:
    peer = session.peer
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
