"""DKIM-signs what relay sends (RFC 6376), as the transport's last change before the bytes go.

The transport calls `Signer.sign` once it has made the message exactly what the
upstream gets (a 7-bit re-encoding included), so what is signed is what is sent.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import dkim
import structlog

from relay.dkim_keys import SigningKey

log = structlog.get_logger("relay.delivery")

# What a reader sees and acts on, and what decides how the body is read (RFC 6376 §5.4.1).
SIGNED = (
    "from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id",
    "in-reply-to", "references", "mime-version", "content-type", "content-transfer-encoding",
    "content-disposition", "content-id", "content-description", "content-language",
    "auto-submitted", "list-unsubscribe", "list-unsubscribe-post",
)
# Signed once more than they occur (RFC 6376 §8.15): nobody on the way can add another
# From, Sender, Reply-To, To, Cc or Subject that a reader would take for ours. Date and
# Message-ID are not: a smarthost may add one to a copy passed on without it.
OVERSIGNED = frozenset({"from", "sender", "reply-to", "to", "cc", "subject"})
CANONICALIZATION = (b"relaxed", b"relaxed")


def signed_headers(message: bytes) -> list[bytes]:
    """The h= list for this message: each SIGNED field as often as it occurs, plus one for
    OVERSIGNED ones (an absent one is signed as absent)."""
    end = message.find(b"\r\n\r\n")
    head = message[: end if end >= 0 else len(message)]
    counts = Counter(
        line.partition(b":")[0].strip().lower().decode("ascii", "replace")
        for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")
    )
    names: list[bytes] = []
    for name in SIGNED:
        times = counts[name] + (1 if name in OVERSIGNED else 0)
        names.extend([name.encode()] * times)
    return names


def sign(key: SigningKey, message: bytes) -> bytes:
    """The message with its DKIM-Signature on top."""
    signature: bytes = dkim.sign(
        message, key.selector.encode(), key.domain.encode(), key.pem,
        canonicalize=CANONICALIZATION, include_headers=signed_headers(message),
    )
    return signature + message


class Signer:
    """The key in use (None: no `[dkim]`); a reload puts in the key it has read."""

    def __init__(self, key: SigningKey | None = None) -> None:
        self.key = key

    async def sign(self, message: bytes) -> bytes:
        """Signed in a thread: a 1 MiB body costs tens of milliseconds the event loop
        must not wait for. A message dkimpy cannot parse (mail passed on as it came)
        goes unsigned rather than not at all."""
        key = self.key
        if key is None:
            return message
        try:
            return await asyncio.to_thread(sign, key, message)
        except dkim.DKIMException as exc:
            log.warning("dkim.not_signed", error=str(exc))
            return message
