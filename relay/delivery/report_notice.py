"""The notice `admin.address` gets when a message is reported, with the message attached.

The attachment is the archived message as it arrived (RFC 2046 §5.2.1
message/rfc822, byte for byte): the admin is the operator, and abuse handling
needs what the sender really sent, its Received trail and real addresses, and
the parts the content rules cut before delivery.
"""

from __future__ import annotations

import secrets
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import MIMEPart
from email.utils import format_datetime

from relay.addresses import relay_message_id
from relay.message import new_id
from relay.model import ArchivedMessage, QueuedNotice

# RFC 5322 §2.1.1: 998 octets a line, CRLF line ends.
_SMTP = policy.SMTP.clone(max_line_length=998)
_MAX_LINE = 998


@dataclass(frozen=True)
class Reported:
    """One report, and the message it is about, as the admin's notice tells it."""

    report_id: str
    reporter: str
    reason: str
    reported_at: datetime
    message: ArchivedMessage


def subject(message_id: str) -> str:
    return f"Reported message {message_id}"


def notice_for(reported: Reported, domain: str, admin: str) -> QueuedNotice:
    """The notice to queue for `admin`, from mailer-daemon@ the relay domain."""
    notice_id = new_id()
    header_id = relay_message_id(notice_id, domain)
    return QueuedNotice(
        message_id=notice_id,
        parent_id=reported.message.record.id,
        relay_message_id=header_id,
        recipient=admin,
        data=build(reported, domain, admin, header_id),
        subject=subject(reported.message.record.id),
        in_relationship=False,
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _text(reported: Reported) -> str:
    found = reported.message
    record = found.record
    buyer_alias, seller_alias = (
        (found.sender_alias, found.recipient_alias) if record.direction == "buyer-to-seller"
        else (found.recipient_alias, found.sender_alias))
    sender, recipient = (("buyer", record.buyer), ("seller", record.seller))
    if record.direction == "seller-to-buyer":
        sender, recipient = recipient, sender
    alias = {"buyer": buyer_alias, "seller": seller_alias}
    reason = "\n".join(textwrap.fill(line, 72, initial_indent="    ",
                                     subsequent_indent="    ") or ""
                       for line in reported.reason.splitlines())
    return (
        f"Message {record.id} was reported by {reported.reporter} at "
        f"{_stamp(reported.reported_at)}.\n\n"
        f"Reason:\n{reason}\n\n"
        f"Message:   {record.id} ({record.direction}, {record.status})\n"
        f"From:      {sender[0]} {sender[1]} <{alias[sender[0]]}>\n"
        f"To:        {recipient[0]} {recipient[1]} <{alias[recipient[0]]}>\n"
        f"Received:  {_stamp(record.received_at)}\n"
        f"Order:     {record.order or '-'}\n"
        f"Case:      {record.case or '-'}\n"
        f"Subject:   {record.subject or '-'}\n"
        f"Report:    {reported.report_id}\n\n"
        "The message is attached as it arrived at the relay, with the real addresses of\n"
        "both parties: it is for the operator. `relay message show "
        f"{record.id}` shows it as delivered.\n"
    )


def _text_part(text: str) -> bytes:
    part = MIMEPart()
    part.set_content(text, cte="7bit" if text.isascii() else "quoted-printable")
    return part.as_bytes(policy=_SMTP)


def _transfer_encoding(data: bytes) -> str:
    """RFC 2046 §5.2.1: message/rfc822 is never encoded, only labelled for what it holds."""
    if any(len(line) > _MAX_LINE for line in data.split(b"\r\n")):
        return "binary"
    return "7bit" if data.isascii() else "8bit"


def _boundary(data: bytes) -> str:
    while True:
        boundary = f"=_report_{secrets.token_hex(12)}"
        if boundary.encode() not in data:
            return boundary


def build(reported: Reported, domain: str, admin: str, message_id: str) -> bytes:
    """The notice as CRLF bytes: a text part, then the received form attached unchanged.

    Written by hand around the attachment: the email package would parse and
    serialise it again, which is not byte for byte.
    """
    record = reported.message.record
    received = reported.message.received
    boundary = _boundary(received)
    headers = [
        ("From", str(Address("Mail Delivery System", "mailer-daemon", domain))),
        ("To", admin),
        ("Subject", subject(record.id)),
        ("Date", format_datetime(datetime.now(UTC))),
        ("Message-ID", message_id),
        ("Auto-Submitted", "auto-generated"),  # RFC 3834 §5
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{boundary}"'),
    ]
    # ASCII but for an internationalised admin address, which the transport sends
    # with SMTPUTF8 (RFC 6531) as it does any 8-bit head.
    head = "".join(_SMTP.fold(name, value) for name, value in headers).encode("utf-8")
    attachment = (
        "Content-Type: message/rfc822\r\n"
        f'Content-Disposition: attachment; filename="{record.id}.eml"\r\n'
        f"Content-Transfer-Encoding: {_transfer_encoding(received)}\r\n\r\n"
    ).encode("ascii")
    return b"".join((
        head, b"\r\n",
        b"--", boundary.encode(), b"\r\n", _text_part(_text(reported)),
        b"\r\n--", boundary.encode(), b"\r\n", attachment, received,
        b"\r\n--", boundary.encode(), b"--\r\n",
    ))
