"""Delivery status notices, and telling machine-made mail from a person's."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.delivery.dsn import Notice, build_notice

ALIAS = "x7k2mnpqrs@relay.example"
REAL = "bob.real@buyer.example"
SENDER = "sam@seller.example"
HEADERS = (
    b"From: Sam <sam@seller.example>\r\n"
    b"To: x7k2mnpqrs@relay.example\r\n"
    b"Subject: Your order\r\n"
    b"Message-ID: <orig-1@seller.example>\r\n"
)
BASE = Notice(
    reporting_host="mx.relay.example",
    domain="relay.example",
    recipient_alias=ALIAS,
    original_sender=SENDER,
    status="5.1.1",
    diagnostic=f"smtp; 550 5.1.1 <{REAL}>: user unknown",
    hide=(REAL,),
    original_headers=HEADERS + b"\r\nSECRET BODY TEXT\r\n",
    original_message_id="<orig-1@seller.example>",
    arrival=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    message_id="<dsn-1@relay.example>",
)


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def parts(data: bytes) -> list[EmailMessage]:
    return list(parse(data).iter_parts())  # type: ignore[arg-type]


def status_fields(data: bytes) -> tuple[EmailMessage, EmailMessage]:
    blocks = parts(data)[1].get_payload()
    assert isinstance(blocks, list)
    per_message, per_recipient = blocks
    assert isinstance(per_message, EmailMessage)
    assert isinstance(per_recipient, EmailMessage)
    return per_message, per_recipient


class TestStructure:
    def test_multipart_report(self) -> None:
        """RFC 6522: multipart/report of explanation, status, original headers."""
        message = parse(build_notice(BASE))
        assert message.get_content_type() == "multipart/report"
        assert message.get_param("report-type") == "delivery-status"
        assert [p.get_content_type() for p in parts(build_notice(BASE))] == [
            "text/plain", "message/delivery-status", "text/rfc822-headers"]

    def test_notice_headers(self) -> None:
        message = parse(build_notice(BASE))
        assert message["From"].addresses[0].addr_spec == "mailer-daemon@relay.example"
        assert message["To"] == SENDER
        assert message["Subject"] == "Undelivered Mail Returned to Sender"
        assert message["Message-ID"] == "<dsn-1@relay.example>"
        assert message["In-Reply-To"] == "<orig-1@seller.example>"
        assert message["References"] == "<orig-1@seller.example>"
        assert message["Auto-Submitted"] == "auto-replied"
        assert message["MIME-Version"] == "1.0"
        assert message["Date"].datetime.tzinfo is not None

    def test_no_original_message_id(self) -> None:
        message = parse(build_notice(dataclasses.replace(BASE, original_message_id=None)))
        assert message["In-Reply-To"] is None
        assert message["References"] is None

    def test_broken_original_message_id_left_out(self) -> None:
        """A Message-ID that is not one `<id>` token would break the header."""
        notice = dataclasses.replace(BASE, original_message_id="<a@b>\r\nBcc: x@y.example")
        assert parse(build_notice(notice))["In-Reply-To"] is None

    def test_delivery_status_fields(self) -> None:
        per_message, per_recipient = status_fields(build_notice(BASE))
        assert per_message["Reporting-MTA"] == "dns; mx.relay.example"
        assert per_message["Arrival-Date"] == "Wed, 01 May 2024 12:00:00 +0000"
        assert per_recipient["Final-Recipient"] == f"rfc822; {ALIAS}"
        assert per_recipient["Action"] == "failed"
        assert per_recipient["Status"] == "5.1.1"
        assert per_recipient["Diagnostic-Code"] == f"smtp; 550 5.1.1 <{ALIAS}>: user unknown"
        assert per_recipient["Last-Attempt-Date"] is not None

    def test_malformed_status(self) -> None:
        _, per_recipient = status_fields(build_notice(dataclasses.replace(BASE, status="oops")))
        assert per_recipient["Status"] == "5.0.0"

    def test_explanation(self) -> None:
        """Plain English: what failed, why, and what to do."""
        text = parts(build_notice(BASE))[0].get_content()
        assert f"Your message to {ALIAS} could not be delivered." in text
        assert "does not exist" in text
        assert "marketplace" in text

    def test_expired(self) -> None:
        text = parts(build_notice(dataclasses.replace(BASE, status="4.4.7")))[0].get_content()
        assert "several days" in text

    def test_quotes_headers_not_body(self) -> None:
        data = build_notice(BASE)
        quoted = parts(data)[2].get_content()
        assert "Subject: Your order" in quoted
        assert b"SECRET BODY TEXT" not in data

    def test_wire_format(self) -> None:
        """CRLF only, every line within RFC 5322's 998, even with huge inputs."""
        notice = dataclasses.replace(
            BASE, diagnostic="smtp; 550 " + "z" * 3000,
            original_headers=b"X-Long: " + b"a" * 2000 + b"\r\n" + HEADERS)
        data = build_notice(notice)
        assert re.search(rb"\r(?!\n)|(?<!\r)\n", data) is None
        assert max(len(line) for line in data.split(b"\r\n")) <= 998

    def test_diagnostic_cannot_inject_headers(self) -> None:
        notice = dataclasses.replace(BASE, diagnostic="smtp; 550 no\r\nBcc: evil@x.example")
        _, per_recipient = status_fields(build_notice(notice))
        assert per_recipient["Bcc"] is None


class TestHiding:
    def test_real_address_nowhere(self) -> None:
        """The real address is replaced in the diagnostic and the quoted headers, any case."""
        notice = dataclasses.replace(
            BASE, diagnostic=f"smtp; 550 <{REAL.upper()}> unknown; try {REAL}",
            original_headers=HEADERS + b"Cc: Bob <Bob.Real@Buyer.Example>\r\n")
        data = build_notice(notice)
        assert REAL.encode() not in data.lower()
        assert f"Cc: Bob <{ALIAS}>" in parts(data)[2].get_content()

    def test_hidden_in_encoded_words(self) -> None:
        """An RFC 2047 encoded word cannot smuggle the address past the check."""
        cc = b"Cc: =?utf-8?q?BOB=2Ereal?=\r\n =?utf-8?b?QGJ1eWVyLmV4YW1wbGU=?=\r\n"
        data = build_notice(dataclasses.replace(BASE, original_headers=HEADERS + cc))
        quoted = parts(data)[2].get_content()
        assert REAL not in quoted.lower()
        assert f"Cc: {ALIAS}" in quoted

    def test_alias_that_contains_the_real_address(self) -> None:
        """A caller bug must fail loudly rather than leak."""
        notice = dataclasses.replace(BASE, recipient_alias=f"x{REAL}")
        with pytest.raises(ValueError, match="alias"):
            build_notice(notice)

    def test_real_address_as_original_sender(self) -> None:
        """The last check refuses any output that would name a hidden address."""
        with pytest.raises(ValueError, match="hidden"):
            build_notice(dataclasses.replace(BASE, original_sender=REAL))

    @pytest.mark.parametrize("disguised", [
        "bob.real+orders@buyer.example",  # a subaddress still names the mailbox
        "bob.real&#64;buyer.example",
        "bob.real%40buyer.example",
        "bob.real\u200b@buyer.example",
    ])
    def test_disguised_real_address(self, disguised: str) -> None:
        """Notices hide addresses with the rewrite's scrubber, so in every disguise it knows."""
        headers = HEADERS + f"Reply-To: {disguised}\r\n".encode()
        notice = dataclasses.replace(BASE, diagnostic=f"smtp; 550 5.1.1 <{disguised}>: unknown",
                                     original_headers=headers)
        data = build_notice(notice).decode("utf-8", "replace").lower()
        assert "bob.real" not in data

    def test_empty_hide_entries_ignored(self) -> None:
        data = build_notice(dataclasses.replace(BASE, hide=("", " ", REAL)))
        assert REAL.encode() not in data.lower()


def random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if flip else c for c, flip in zip(text, flips, strict=True))


@st.composite
def with_hidden(draw: st.DrawFn, alphabet: st.SearchStrategy[str]) -> str:
    """Random text with the real address, in random case, at random places."""
    pieces = draw(st.lists(st.text(alphabet, max_size=40), min_size=1, max_size=5))
    out = []
    for piece in pieces:
        out.append(piece)
        if draw(st.booleans()):
            out.append(random_case(draw, REAL))
    return "".join(out)


HEADER_CHARS = st.characters(min_codepoint=32, max_codepoint=126)
ANY_CHARS = st.characters(codec="utf-8")


@settings(max_examples=200, deadline=None)
@given(diagnostic=with_hidden(ANY_CHARS), value=with_hidden(HEADER_CHARS),
       name=st.sampled_from(["Cc", "Reply-To", "X-Note", "Subject"]))
def test_hidden_address_never_in_output(diagnostic: str, value: str, name: str) -> None:
    headers = HEADERS + f"{name}: {value}\r\n".encode()
    notice = dataclasses.replace(BASE, diagnostic=diagnostic, original_headers=headers)
    assert REAL.encode() not in build_notice(notice).lower()
