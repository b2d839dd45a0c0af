"""Transports: the outbox writes whole files; SMTP errors map to the two failure kinds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relay.config import parse
from relay.delivery.transport import (
    OutboxTransport,
    PermanentFailure,
    Replaceable,
    SmtpTransport,
    TemporaryFailure,
)
from relay.model import Delivery
from tests.smtp.upstream import (
    PASSWORD,
    USERNAME,
    Certificates,
    Stalling,
    Upstream,
    make_certificates,
)


def to(sender: str, recipient: str, message_id: str = "m1") -> Delivery:
    """A claimed queue entry for `message_id`, from `sender` to `recipient`."""
    return Delivery(queue_id=1, message_id=message_id, envelope_from=sender,
                    recipient=recipient, attempts=1, data=None, created_at=datetime.now(UTC),
                    holder=1)


class TestOutbox:
    async def test_one_file_per_message_named_by_its_id(self, tmp_path: Path) -> None:
        outbox = OutboxTransport(tmp_path / "outbox")
        await outbox.send(to("bounce-1@relay.example", "bob@buyer.example", "a1"),
                          b"Subject: a\r\n\r\nA\r\n")
        await outbox.send(to("bounce-2@relay.example", "bob@buyer.example", "b2"),
                          b"Subject: b\r\n\r\nB\r\n")
        files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
        assert files == ["a1.eml", "b2.eml"]

    async def test_the_envelope_is_recorded_on_top(self, tmp_path: Path) -> None:
        """As a local delivery agent does: where the message would have gone, and from whom."""
        outbox = OutboxTransport(tmp_path)
        await outbox.send(to("bounce-1@relay.example", "bob@buyer.example", "a1"),
                          b"Subject: a\r\n\r\nA\r\n")
        assert (tmp_path / "a1.eml").read_bytes() == (
            b"Return-Path: <bounce-1@relay.example>\r\nDelivered-To: bob@buyer.example\r\n"
            b"Subject: a\r\n\r\nA\r\n"
        )

    async def test_a_notice_has_the_null_return_path(self, tmp_path: Path) -> None:
        await OutboxTransport(tmp_path).send(to("", "owner@shop.example", "n1"), b"\r\nx\r\n")
        assert (tmp_path / "n1.eml").read_bytes().startswith(b"Return-Path: <>\r\n")

    async def test_a_second_delivery_replaces_the_file_and_leaves_no_temporary(
        self, tmp_path: Path
    ) -> None:
        outbox = OutboxTransport(tmp_path)
        for body in (b"\r\nfirst\r\n", b"\r\nsecond\r\n"):
            await outbox.send(to("a@relay.example", "b@c.example", "a1"), body)
        assert [p.name for p in await asyncio.to_thread(tmp_path.iterdir)] == ["a1.eml"]
        assert (tmp_path / "a1.eml").read_bytes().endswith(b"second\r\n")

    async def test_unwritable_outbox_is_temporary(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        with pytest.raises(TemporaryFailure):
            await OutboxTransport(blocker / "outbox").send(to("a@b.example", "c@d.example"), b"x")


class Slow:
    """A transport whose sends wait for `go`, recording when it is closed."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.sent: list[str] = []
        self.closed = False

    async def send(self, delivery: Delivery, data: bytes) -> None:
        await self.go.wait()
        self.sent.append(delivery.message_id)

    async def close(self) -> None:
        self.closed = True


class TestReplaceable:
    async def test_the_old_upstream_closes_after_its_sends_in_progress(self) -> None:
        old, new = Slow(), Slow()
        transport = Replaceable(old)
        sending = asyncio.create_task(transport.send(to("a@relay.example", "b@c.example"), b""))
        await asyncio.sleep(0.01)
        await transport.replace(new)
        new.go.set()
        await transport.send(to("a@relay.example", "b@c.example", "m2"), b"")
        assert (new.sent, old.closed) == (["m2"], False)
        old.go.set()
        await sending
        assert (old.sent, old.closed, new.closed) == (["m1"], True, False)

    async def test_an_idle_upstream_closes_at_once(self) -> None:
        old = Slow()
        transport = Replaceable(old)
        await transport.replace(Slow())
        assert old.closed


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


def smtp(port: int, certificates: Certificates, tmp_path: Path, **extra: str) -> SmtpTransport:
    secret = tmp_path / "pw"
    secret.write_text(extra.pop("password", PASSWORD))
    settings = parse({"upstream": {
        "kind": "smtp", "host": "localhost", "port": port, "username": USERNAME,
        "password_file": str(secret), "ca_file": str(certificates.ca_file), "timeout": "5s",
        **extra,
    }}, environ={})
    return SmtpTransport(settings.upstream)


MESSAGE = b"From: a@relay.example\r\nSubject: x\r\n\r\nbody\r\n"


class TestSmtp:
    async def test_delivers_over_starttls_with_auth(self, certificates: Certificates,
                                                    tmp_path: Path) -> None:
        upstream = Upstream(certificates)
        await upstream.start()
        try:
            await smtp(upstream.port, certificates, tmp_path).send(
                to("bounce-1@relay.example", "bob@buyer.example"), MESSAGE)
        finally:
            await upstream.stop()
        (got,) = upstream.handler.messages
        assert (got.mail_from, got.rcpt_tos) == ("bounce-1@relay.example", ["bob@buyer.example"])

    async def test_untrusted_certificate_is_temporary(self, certificates: Certificates,
                                                      tmp_path: Path) -> None:
        """The certificate is verified: a CA we do not trust fails, and mail waits."""
        upstream = Upstream(certificates)
        await upstream.start()
        other = make_certificates(tmp_path / "..")
        try:
            with pytest.raises(TemporaryFailure):
                await smtp(upstream.port, other, tmp_path).send(
                    to("a@relay.example", "b@c.example"), MESSAGE)
        finally:
            await upstream.stop()

    async def test_a_send_cut_off_closes_its_connection(self, certificates: Certificates,
                                                        tmp_path: Path) -> None:
        """A worker whose lease may end cancels the send: the upstream must see it go."""
        upstream = Upstream(certificates)
        upstream.handler = stalling = Stalling()
        await upstream.start()
        try:
            transport = smtp(upstream.port, certificates, tmp_path)
            sending = asyncio.create_task(transport.send(to("a@relay.example", "b@c.example"),
                                                         MESSAGE))
            await asyncio.wait_for(stalling.stalled.wait(), 5)
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending
            await asyncio.wait_for(stalling.dropped.wait(), 2)
            await transport.close()
        finally:
            await upstream.stop()
        assert upstream.handler.messages == []

    @pytest.mark.parametrize(("where", "reply", "kind"), [
        ("rcpt", "550 5.1.1 no such user", PermanentFailure),
        ("rcpt", "451 4.3.0 try later", TemporaryFailure),
        ("data", "554 5.6.0 rejected", PermanentFailure),
        ("data", "452 4.3.1 full", TemporaryFailure),
    ])
    async def test_replies_map_to_failures(self, certificates: Certificates, tmp_path: Path,
                                           where: str, reply: str,
                                           kind: type[Exception]) -> None:
        upstream = Upstream(certificates)
        setattr(upstream.handler, f"{where}_reply", reply)
        await upstream.start()
        try:
            with pytest.raises(kind, match=reply.split()[0]):
                await smtp(upstream.port, certificates, tmp_path).send(
                    to("a@relay.example", "b@c.example"), MESSAGE)
        finally:
            await upstream.stop()

    async def test_refused_connection_is_temporary(self, certificates: Certificates,
                                                   tmp_path: Path) -> None:
        upstream = Upstream(certificates)
        await upstream.start()
        port = upstream.port
        await upstream.stop()
        with pytest.raises(TemporaryFailure):
            await smtp(port, certificates, tmp_path).send(to("a@relay.example", "b@c.example"),
                                                          MESSAGE)

    async def test_wrong_password_is_temporary(self, certificates: Certificates,
                                               tmp_path: Path) -> None:
        """A rejected login is the operator's problem to fix; mail must wait, not bounce."""
        upstream = Upstream(certificates)
        await upstream.start()
        try:
            with pytest.raises(TemporaryFailure):
                await smtp(upstream.port, certificates, tmp_path, password="wrong").send(
                    to("a@relay.example", "b@c.example"), MESSAGE)
        finally:
            await upstream.stop()


class TestConnectionReuse:
    async def test_one_connection_carries_many_messages(self, certificates: Certificates,
                                                        tmp_path: Path) -> None:
        upstream = Upstream(certificates)
        await upstream.start()
        transport = smtp(upstream.port, certificates, tmp_path)
        try:
            for n in range(3):
                await transport.send(to(f"bounce-{n}@relay.example", "b@c.example"), MESSAGE)
            # A refusal leaves the connection usable for the next message.
            upstream.handler.rcpt_reply = "550 5.1.1 no such user"
            with pytest.raises(PermanentFailure):
                await transport.send(to("bounce-x@relay.example", "b@c.example"), MESSAGE)
            upstream.handler.rcpt_reply = None
            await transport.send(to("bounce-4@relay.example", "b@c.example"), MESSAGE)
        finally:
            await transport.close()
            await upstream.stop()
        assert len(upstream.handler.messages) == 4
        assert upstream.connections == 1

    async def test_stale_kept_connection_is_replaced(self, certificates: Certificates,
                                                     tmp_path: Path) -> None:
        """An upstream restart between deliveries costs nothing but a reconnect."""
        upstream = Upstream(certificates)
        await upstream.start()
        transport = smtp(upstream.port, certificates, tmp_path)
        try:
            await transport.send(to("bounce-1@relay.example", "b@c.example"), MESSAGE)
            await upstream.stop()
            await upstream.start()  # same port; the kept connection is now dead
            await transport.send(to("bounce-2@relay.example", "b@c.example"), MESSAGE)
        finally:
            await transport.close()
            await upstream.stop()
        assert [m.mail_from for m in upstream.handler.messages] == [
            "bounce-1@relay.example", "bounce-2@relay.example"]
