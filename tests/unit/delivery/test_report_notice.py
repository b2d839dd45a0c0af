"""The admin's notice about a report: what it says, and the message attached byte for byte."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from relay.delivery.report_notice import Reported, build, notice_for
from relay.model import ArchivedMessage, MessageRecord

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
RECEIVED = (
    b"Received: from mx.buyer.example by mx.relay.example; Tue, 1 Dec 2026 10:00:00 +0000\r\n"
    b"From: Bob <bob@buyer.example>\r\nTo: s-alias@relay.example\r\nSubject: Hi\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe, pay me off-site.\r\n"
)


def _reported(received: bytes = RECEIVED, reason: str = "asks to pay off-site") -> Reported:
    record = MessageRecord("m1", "buyer-to-seller", "b1", "s1", "o1", None, "Hi", AT,
                           "delivered", True)
    found = ArchivedMessage(record, "b-alias@relay.example", "s-alias@relay.example", received,
                            b"delivered form", {"bob@buyer.example": "b-alias@relay.example"})
    return Reported("r1", "cli", reason, AT, found)


def _parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def _attached(data: bytes, boundary: str) -> bytes:
    """The attachment's bytes exactly as written between its headers and the last boundary."""
    start = data.index(b"Content-Type: message/rfc822")
    body = data.index(b"\r\n\r\n", start) + 4
    return data[body:data.rindex(b"\r\n--" + boundary.encode() + b"--")]


class TestNotice:
    def test_says_what_was_reported_and_attaches_the_received_form_unchanged(self) -> None:
        data = build(_reported(), "relay.example", "ops@marketplace.example", "<n1@relay.example>")
        notice = _parse(data)
        assert notice["From"].addresses[0].addr_spec == "mailer-daemon@relay.example"
        assert (notice["To"], notice["Subject"], notice["Message-ID"]) == (
            "ops@marketplace.example", "Reported message m1", "<n1@relay.example>")
        assert notice["Auto-Submitted"] == "auto-generated"
        assert data[:data.index(b"\r\n\r\n")].isascii()
        text, attached = notice.iter_parts()
        words = text.get_content()
        for expected in ("m1", "cli", "asks to pay off-site", "buyer b1 <b-alias@relay.example>",
                         "seller s1 <s-alias@relay.example>", "o1", "r1"):
            assert expected in words
        assert attached.get_content_type() == "message/rfc822"
        assert attached["Content-Transfer-Encoding"] == "8bit"
        assert attached.get_content_disposition() == "attachment"
        boundary = notice.get_boundary()
        assert boundary is not None
        assert _attached(data, boundary) == RECEIVED
        assert b"delivered form" not in data

    @pytest.mark.parametrize(("received", "encoding"), [
        (b"Subject: plain\r\n\r\nascii only\r\n", "7bit"),
        (b"Subject: no final line end\r\n\r\nascii only", "7bit"),
        (b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n", "binary"),
    ])
    def test_any_received_form_is_kept_and_labelled(self, received: bytes,
                                                     encoding: str) -> None:
        data = build(_reported(received), "relay.example", "ops@example.org", "<n@relay.example>")
        notice = _parse(data)
        attached = list(notice.iter_parts())[1]
        assert attached["Content-Transfer-Encoding"] == encoding
        boundary = notice.get_boundary()
        assert boundary is not None
        assert _attached(data, boundary) == received

    def test_a_boundary_the_message_holds_is_never_used(self,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        tokens = iter(["aaaa", "bbbb"])
        monkeypatch.setattr(secrets, "token_hex", lambda _n: next(tokens))
        received = b"Subject: x\r\n\r\n--=_report_aaaa\r\n"
        data = build(_reported(received), "relay.example", "ops@example.org", "<n@relay.example>")
        assert _parse(data).get_boundary() == "=_report_bbbb"
        assert len(list(_parse(data).iter_parts())) == 2

    def test_a_reason_in_any_language_and_lines_reads_back(self) -> None:
        reason = "Beleidigung: « va te faire »\n\nsecond paragraph " + "long " * 30
        data = build(_reported(reason=reason), "relay.example", "ops@example.org",
                     "<n@relay.example>")
        part = next(_parse(data).iter_parts())
        assert part["Content-Transfer-Encoding"] == "quoted-printable"  # 7-bit on the wire
        text = part.get_content()
        assert "Beleidigung: « va te faire »" in text
        assert "second paragraph" in text

    def test_queued_outside_the_relationship_with_its_own_subject(self) -> None:
        notice = notice_for(_reported(), "relay.example", "ops@example.org")
        assert (notice.parent_id, notice.recipient, notice.subject, notice.in_relationship) == (
            "m1", "ops@example.org", "Reported message m1", False)
        assert notice.relay_message_id == f"<{notice.message_id}@relay.example>"
        assert f"Message-ID: {notice.relay_message_id}".encode() in notice.data
