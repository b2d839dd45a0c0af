"""An erasure request's two traces in the archive: the tombstone and the chained act.

A redacted record keeps its place and its content hash; only its bytes become
the tombstone, so the chain still verifies. The act itself is a new chain
record (form "redaction") whose content names the records it emptied: verify
accepts a redacted record only when a later act names it.
"""

from __future__ import annotations

import json
from datetime import datetime

from relay.archive.chain import REDACTION as FORM
from relay.archive.chain import stamp

__all__ = ["FORM", "act", "tombstone"]


def tombstone(message_id: str, reason: str, at: datetime) -> bytes:
    """What a redacted record holds instead: a small message saying what happened, and when."""
    text = (f"The content of message {message_id} was removed from the archive on "
            f"{stamp(at)} at an erasure request.\r\nReason: {_one_line(reason)}\r\n")
    return ("Subject: [redacted]\r\n"
            f"X-Relay-Redacted: {stamp(at)}\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + text).encode()


def act(message_id: str, seqs: list[int], reason: str, at: datetime) -> bytes:
    """The content of the redaction record: which message, which records, why and when."""
    return json.dumps({"message": message_id, "records": seqs, "reason": reason,
                       "redacted_at": stamp(at)}, separators=(",", ":"),
                      ensure_ascii=False).encode()


def _one_line(text: str) -> str:
    return " ".join(text.split())
