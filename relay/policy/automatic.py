"""Auto-replies, read receipts and delivery reports are never passed to the other party.

They are archived, so a dispute can see them, and answered 250 so that no
bounce goes back to an auto-responder (RFC 3834 §2; SPEC §6).
"""

from __future__ import annotations

import re
from email.message import EmailMessage

from relay.message import Transaction, header_text
from relay.replies import Consumed

_KEYWORD = re.compile(r"[\s;(]")


# RFC 6522 §3: multipart/report is always a machine's report, whatever its report-type
# (delivery-status, disposition-notification, feedback-report); some MUAs send MDNs
# with the report part in another multipart, so those part types count too.
_REPORTS = {"multipart/report", "message/delivery-status", "message/global-delivery-status",
            "message/disposition-notification", "message/global-disposition-notification"}


def is_automatic(message: EmailMessage) -> bool:
    """Whether a message is machine-made (a report or an auto-reply): never forwarded."""
    submitted = header_text(message, "Auto-Submitted")
    # RFC 3834 §5: any keyword but "no" (comments and parameters may follow).
    if submitted is not None and _KEYWORD.split(submitted.strip(), 1)[0].lower() != "no":
        return True
    if any(header_text(message, name) is not None for name in ("X-Autoreply", "X-Autorespond")):
        return True
    # Only auto_reply marks a machine: bulk and list are what a seller's mailing tool
    # sets on mail a person chose to send (opt-out and quota rules deal with it), and
    # junk is as ambiguous. RFC 3834 §3.1.8 only asks responders not to answer those.
    if (header_text(message, "Precedence") or "").strip().lower() == "auto_reply":
        return True
    # One level deep, not into attached messages: a forwarded bounce is a person's mail.
    parts = [message, *message.iter_parts()] if message.is_multipart() else [message]
    return any(part.get_content_type() in _REPORTS for part in parts)


class Automatic:
    """Stops machine-made mail with `Consumed`: archived, answered 250, never delivered."""

    async def __call__(self, tx: Transaction) -> None:
        if is_automatic(tx.parsed):
            raise Consumed
