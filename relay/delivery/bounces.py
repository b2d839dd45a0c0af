"""Turning a failed delivery into a notice for its sender; shared by the worker and the CLI."""

from __future__ import annotations

from relay.addresses import relay_message_id
from relay.delivery.dsn import Notice, build_notice
from relay.message import new_id
from relay.model import QueuedNotice
from relay.ports import BounceFacts


class Bouncer:
    """Writes RFC 3464 notices that name the alias the sender wrote to, never the recipient."""

    def __init__(self, store: BounceFacts, hostname: str, domain: str) -> None:
        self._store = store
        self._hostname = hostname
        self._domain = domain

    async def notice_for(self, message_id: str, status: str, diagnostic: str
                         ) -> QueuedNotice | None:
        """The notice to queue, or None where none may be sent (a bounce never bounces)."""
        context = await self._store.bounce_context(message_id)
        if context is None or context.kind == "notice" or not context.envelope_sender:
            return None
        notice_id = new_id()
        message_id_header = relay_message_id(notice_id, self._domain)
        data = build_notice(Notice(
            reporting_host=self._hostname,
            domain=self._domain,
            recipient_alias=context.alias,
            original_sender=context.envelope_sender,
            status=status,
            diagnostic=diagnostic,
            hide=context.hidden,
            original_headers=context.received_headers,
            original_message_id=context.original_message_id,
            arrival=context.received_at,
            message_id=message_id_header,
        ))
        return QueuedNotice(
            message_id=notice_id,
            parent_id=message_id,
            relay_message_id=message_id_header,
            recipient=context.envelope_sender,
            data=data,
        )


def enhanced_status(error: str, default: str) -> str:
    """The RFC 3463 code inside an upstream reply text, else `default`."""
    for word in error.split():
        parts = word.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] in "245":
            return word
    return default
