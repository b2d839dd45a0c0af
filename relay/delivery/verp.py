"""VERP bounce addresses: one per delivered message, HMAC-signed so nobody else can mint one.

A bounce arriving at `bounce-<id>-<sig>@domain` names the message it is about.
Without the signature anyone could send "bounces" for any message id, so a
forged or unsigned address must be told apart from a real one, and from an
unknown alias (aliases never contain "-", so the prefix cannot collide).
"""

from __future__ import annotations

import hashlib
import hmac
import re

PREFIX = "bounce-"
# 64 bits of HMAC-SHA256: a forger needs ~2**63 guesses per message id.
SIGNATURE_CHARS = 16
_MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
_LOCAL = re.compile(rf"{PREFIX}([0-9a-f]{{32}})-([0-9a-f]{{{SIGNATURE_CHARS}}})")
# RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; ours is 7 + 32 + 1 + 16 = 56.
MAX_LOCAL_PART = 64


def _signature(message_id: str, key: bytes) -> str:
    digest = hmac.new(key, message_id.encode("ascii"), hashlib.sha256).hexdigest()
    return digest[:SIGNATURE_CHARS]


def bounce_address(message_id: str, domain: str, key: bytes) -> str:
    """The signed envelope sender of a forwarded copy, all lower-case."""
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"not a message id (32 lower-case hex characters): {message_id!r}")
    local = f"{PREFIX}{message_id}-{_signature(message_id, key)}"
    assert len(local) <= MAX_LOCAL_PART
    return f"{local}@{domain.lower()}"


def parse_bounce_address(address: str, domain: str, key: bytes) -> str | None:
    """The message id of a validly signed bounce address at `domain` (any case), else None."""
    if not isinstance(address, str) or not address.isascii():
        # Non-ASCII could only be a look-alike; str.lower() may map some to ASCII.
        return None
    local, at, host = address.strip().lower().rpartition("@")
    if not at or host != domain.lower():
        return None
    match = _LOCAL.fullmatch(local)
    if match is None:
        return None
    message_id, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(message_id, key)):
        return None
    return message_id


def is_bounce_form(local_part: str) -> bool:
    """Whether a local part looks like a bounce address, signed or not (or forged)."""
    return local_part.lower().startswith(PREFIX)
