"""RFC 3464 delivery status notices that name the alias, never the real recipient."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import MIMEPart
from email.utils import format_datetime

from relay.addresses import MESSAGE_ID
from relay.content.scrub import Scrubber
from relay.message import decode_words
from relay.replies import Refused

SUBJECT = "Undelivered Mail Returned to Sender"
# RFC 5322 §2.1.1: 998 octets a line. Fields are capped below that, so they need no
# folding and none turns into encoded words (unwelcome in message/delivery-status).
_MAX_FIELD = 900
_SMTP = policy.SMTP.clone(max_line_length=998)
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_DIAGNOSTIC_TYPE = re.compile(r"[A-Za-z][\w-]*;\s*")

_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(r"\n+(?![ \t])")
_REASONS = {
    "4.4.7": "We kept trying for several days, but the receiving mail server did not "
    "accept it, so we stopped.",
    "5.1.1": "The address does not exist or no longer accepts mail.",
    "5.2.2": "The recipient's mailbox is full.",
    "5.3.4": "The message is too large for the receiving mail server.",
}
_DEFAULT_REASON = "The receiving mail server refused it."
_ADVICE = ("You can try again later, or contact them through the marketplace. "
           "Please do not reply to this message: nobody reads replies to it.")


@dataclass(frozen=True)
class Notice:
    """What one notice says, and what it must never say (`hide`)."""

    reporting_host: str
    domain: str
    recipient_alias: str
    original_sender: str
    status: str
    diagnostic: str
    hide: tuple[str, ...]
    original_headers: bytes
    original_message_id: str | None
    arrival: datetime
    message_id: str


def _hidden(hide: tuple[str, ...]) -> list[str]:
    return [h.strip().strip("<>") for h in hide]


def _scrubber(hide: tuple[str, ...], alias: str) -> Callable[[str], str]:
    """Replace every hidden address with the alias, in any disguise (relay.content.scrub).

    The one scrubber the rewrite uses too; where it gives up, so does the notice.
    """
    scrubber = Scrubber(_hidden(hide), alias)
    if scrubber.found(alias):
        raise ValueError("the alias contains an address the notice must hide")

    def scrub(text: str) -> str:
        try:
            return scrubber.scrub(text)
        except Refused as refused:
            raise ValueError("an address the notice must hide cannot be removed") from refused

    return scrub


def _diagnostic(text: str, scrub: Callable[[str], str]) -> str:
    one_line = _CONTROL.sub(" ", scrub(text)).strip()
    ascii_only = one_line.encode("ascii", "replace").decode("ascii")
    return scrub(ascii_only[:_MAX_FIELD])


def _quoted_headers(raw: bytes, scrub: Callable[[str], str]) -> str:
    """The original header block, never a body, with hidden addresses replaced.

    Encoded words (RFC 2047) are decoded to look for hidden addresses inside
    them; a field that hides one there is quoted decoded, with it replaced.
    """
    head = _END_OF_HEADERS.split(raw, maxsplit=1)[0].decode("utf-8", "replace")
    out: list[str] = []
    for field in _FIELD_START.split("\n".join(head.splitlines()).strip("\n")):
        text = scrub(field)
        name, _, value = field.replace("\n", " ").partition(":")
        decoded = decode_words(value.strip())
        if decoded is None:
            continue  # undecodable: it might hide anything
        if scrub(decoded) != decoded:
            text = scrub(f"{name}: {_CONTROL.sub(' ', decoded)}")
        out.append(text)
    return "\n".join(out) + "\n"


def _explanation(notice: Notice, status: str, diagnostic: str) -> str:
    said = _DIAGNOSTIC_TYPE.sub("", diagnostic, count=1)
    reason = _REASONS.get(status, _DEFAULT_REASON)
    paragraphs = [f"Your message to {notice.recipient_alias} could not be delivered.",
                  reason, _ADVICE]
    if said:
        paragraphs.append(f"The receiving mail server said: {said}")
    return "\n\n".join(textwrap.fill(p, 72) for p in paragraphs) + "\n"


def _status_part(notice: Notice, status: str, diagnostic: str, now: datetime) -> MIMEPart:
    """The message/delivery-status part: per-message fields, then the one recipient's."""
    per_message, per_recipient = MIMEPart(), MIMEPart()
    per_message["Reporting-MTA"] = f"dns; {notice.reporting_host}"
    per_message["Arrival-Date"] = format_datetime(notice.arrival)
    per_recipient["Final-Recipient"] = f"rfc822; {notice.recipient_alias}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = status
    if diagnostic:
        per_recipient["Diagnostic-Code"] = diagnostic
    per_recipient["Last-Attempt-Date"] = format_datetime(now)
    part = MIMEPart()
    part["Content-Type"] = "message/delivery-status"
    part.set_payload([per_message, per_recipient])  # the generator writes each as a block
    return part


def _headers_part(quoted: str) -> MIMEPart:
    part = MIMEPart()
    plain = quoted.isascii() and all(len(line) <= 998 for line in quoted.splitlines())
    part.set_content(quoted, subtype="rfc822-headers", cte="7bit" if plain else "quoted-printable")
    return part


def build_notice(notice: Notice) -> bytes:
    """The notice as CRLF bytes, to be sent with the null envelope sender."""
    scrub = _scrubber(notice.hide, notice.recipient_alias)
    status = notice.status if _STATUS.fullmatch(notice.status) else "5.0.0"
    diagnostic = _diagnostic(notice.diagnostic, scrub)
    now = datetime.now(UTC)
    message = MIMEPart()
    message["From"] = Address("Mail Delivery System", "mailer-daemon", notice.domain)
    message["To"] = notice.original_sender
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(now)
    message["Message-ID"] = notice.message_id
    original = notice.original_message_id
    if original and len(original) <= _MAX_FIELD and MESSAGE_ID.fullmatch(original):
        message["In-Reply-To"] = original
        message["References"] = original
    message["Auto-Submitted"] = "auto-replied"  # RFC 3834 §5
    message["MIME-Version"] = "1.0"
    message.set_content(_explanation(notice, status, diagnostic))
    message.make_mixed()
    message.attach(_status_part(notice, status, diagnostic, now))
    message.attach(_headers_part(_quoted_headers(notice.original_headers, scrub)))
    message.replace_header("Content-Type", "multipart/report; report-type=delivery-status")
    data = message.as_bytes(policy=_SMTP)
    if Scrubber(_hidden(notice.hide), notice.recipient_alias).leaks(data):
        raise ValueError("a hidden address would appear in the notice")  # last line of defence
    return data
