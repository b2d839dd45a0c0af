"""Bounces that come back to a VERP address: read the report, prepare the sender's notice."""

from __future__ import annotations

from email.message import EmailMessage

from relay.delivery.bounces import Bouncer
from relay.message import Transaction
from relay.replies import Consumed

_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")


def _fields(message: EmailMessage) -> tuple[str, str]:
    """Status and Diagnostic-Code of the first recipient a delivery report names."""
    status, diagnostic = "5.0.0", "the receiving server returned the message"
    for part in message.walk():
        if part.get_content_type() not in _STATUS_TYPES:
            continue
        payload = part.get_payload()
        blocks = [b for b in payload if not isinstance(b, str)] if isinstance(payload, list) else []
        for block in blocks[1:2]:  # RFC 3464 §2.1: per-message fields first, then recipients
            status = str(block.get("Status") or status).strip()
            diagnostic = str(block.get("Diagnostic-Code") or diagnostic).strip()
    return status, diagnostic


class BounceReport:
    """The bounce itself is kept, not forwarded; its sender hears about it in our words."""

    def __init__(self, bouncer: Bouncer) -> None:
        self._bouncer = bouncer

    async def __call__(self, tx: Transaction) -> None:
        assert tx.about is not None
        status, diagnostic = _fields(tx.parsed)
        try:
            tx.notice = await self._bouncer.notice_for(tx.about, status, diagnostic)
        except ValueError:
            tx.notice = None  # a notice that would show a hidden address is never sent
        raise Consumed
