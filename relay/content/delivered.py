"""The last content steps: build the form the recipient gets."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime

from relay.addresses import relay_message_id
from relay.content.parts import TextHook
from relay.content.rewrite import rewrite
from relay.message import Transaction


@functools.lru_cache(maxsize=2)
def _date(second: int) -> str:
    return format_datetime(datetime.fromtimestamp(second, UTC))


def trace_header(hostname: str, tx: Transaction) -> bytes:
    """Our own Received: line (RFC 5321 §4.4), naming no one: hop counts need it."""
    stamp = _date(int(time.time()))  # formatting a date costs more than the rest of the line
    return f"Received: by {hostname} (relay) with ESMTP id {tx.id}; {stamp}\r\n".encode()


class Rewrite:
    """Anonymise and re-address the message for the other party (SPEC §2.4)."""

    def __init__(self, domain: str, hostname: str, hooks: Sequence[TextHook] = ()) -> None:
        self._domain = domain
        self._hostname = hostname
        self._hooks = tuple(hooks)

    async def __call__(self, tx: Transaction) -> None:
        assert tx.route is not None
        tx.delivered = trace_header(self._hostname, tx) + rewrite(
            tx.parsed,
            tx.route,
            message_id=relay_message_id(tx.id, self._domain),
            in_reply_to=tx.in_reply_to,
            references=tx.references,
            domain=self._domain,
            hooks=self._hooks,
        )


class Passthrough:
    """Mail for postmaster@ and abuse@ reaches the admin as it was sent, plus our trace."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname

    async def __call__(self, tx: Transaction) -> None:
        tx.delivered = trace_header(self._hostname, tx) + tx.received
