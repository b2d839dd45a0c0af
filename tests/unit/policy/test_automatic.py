"""Which mail is machine-made and so never passed to the other party (RFC 3834, RFC 6522)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from relay.delivery.dsn import build_notice
from relay.message import Transaction
from relay.policy.automatic import Automatic, is_automatic
from relay.replies import Consumed
from tests.unit.delivery.test_dsn import BASE, parse


def message(text: str) -> EmailMessage:
    return parse(text.replace("\n", "\r\n").encode())


PLAIN = "From: sam@seller.example\nTo: x7k2mnpqrs@relay.example\nSubject: hi\n"


class TestIsAutomatic:
    @pytest.mark.parametrize("extra", [
        "Auto-Submitted: auto-replied\n",
        "Auto-Submitted: auto-generated\n",
        "Auto-Submitted: Auto-Replied (vacation)\n",
        "Auto-Submitted: auto-notified; owner-email=a@b.example\n",
        "X-Autoreply: yes\n",
        "X-Autorespond: vacation\n",
        "Precedence: auto_reply\n",
    ])
    def test_auto_reply_markers(self, extra: str) -> None:
        assert is_automatic(message(PLAIN + extra + "\nI am away.\n"))

    @pytest.mark.parametrize("extra", [
        "", "Auto-Submitted: no\n", "Auto-Submitted: No (a person wrote this)\n",
        "Precedence: bulk\n", "Precedence: list\n", "Precedence: junk\n",
    ])
    def test_a_persons_message(self, extra: str) -> None:
        """Bulk or list mail from a seller is still the seller's message."""
        assert not is_automatic(message(PLAIN + extra + "\nHello.\n"))

    @pytest.mark.parametrize("report_type", ["delivery-status", "disposition-notification"])
    def test_reports(self, report_type: str) -> None:
        report = message(
            PLAIN + "MIME-Version: 1.0\n"
            f'Content-Type: multipart/report; report-type={report_type}; boundary="b"\n\n'
            "--b\nContent-Type: text/plain\n\nA report.\n--b--\n")
        assert is_automatic(report)

    def test_mdn_part_in_another_multipart(self) -> None:
        mdn = message(
            PLAIN + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
            "--b\nContent-Type: text/plain\n\nRead.\n"
            "--b\nContent-Type: message/disposition-notification\n\n"
            "Disposition: manual-action/MDN-sent-manually; displayed\n--b--\n")
        assert is_automatic(mdn)

    def test_our_own_notice(self) -> None:
        assert is_automatic(parse(build_notice(BASE)))

    def test_forwarded_bounce_is_a_persons_message(self) -> None:
        """A report attached to a person's message is not looked into."""
        forwarded = message(
            PLAIN + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
            "--b\nContent-Type: text/plain\n\nSee the bounce below.\n"
            "--b\nContent-Type: message/rfc822\n\n"
            "Subject: bounce\nContent-Type: multipart/report; report-type=delivery-status;"
            ' boundary="c"\n\n--c\nContent-Type: text/plain\n\nfailed\n--c--\n--b--\n')
        assert not is_automatic(forwarded)


class TestStep:
    async def test_an_auto_reply_is_consumed(self) -> None:
        """The step stops the message the way a refusal does, by raising."""
        tx = Transaction(id="m1", peer="test", mail_from="sam@seller.example",
                         message=message(PLAIN + "Auto-Submitted: auto-replied\n\nAway.\n"))
        with pytest.raises(Consumed):
            await Automatic()(tx)

    async def test_a_persons_message_goes_on(self) -> None:
        tx = Transaction(id="m1", peer="test", mail_from="sam@seller.example",
                         message=message(PLAIN + "\nHello.\n"))
        await Automatic()(tx)
