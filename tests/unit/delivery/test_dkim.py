"""The signer: which headers it signs, that the outbox signs, and mail it cannot parse."""

from __future__ import annotations

import time
from pathlib import Path

import dkim
import pytest

from relay.config import DkimSettings
from relay.delivery.dkim import CANONICALIZATION, ON_LOOP_MAX, Signer, sign, signed_headers
from relay.delivery.transport import OutboxTransport
from relay.dkim_keys import SigningKey, load_key, new_key, private_pem, record_name, txt_value
from relay.model import Delivery
from tests.dkim_check import signature_tags, verifies
from tests.dns_server import DnsServer
from tests.unit.delivery.test_transport import to

MESSAGE = (b"Received: from a\r\nReceived: from b\r\nFrom: Shop <x@relay.example>\r\n"
           b"To: y@buyer.example\r\nSubject: Hi\r\n\tthere\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000"
           b"\r\nMessage-ID: <1@relay.example>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n")


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = new_key()
    path = tmp_path_factory.mktemp("key") / "dkim.pem"
    path.write_bytes(private_pem(key))
    (path.parent / "record").write_text(txt_value(key))
    return path


@pytest.fixture
def key(pem: Path, dns_server: DnsServer) -> SigningKey:
    dns_server.txt(record_name("s1", "relay.example"), (pem.parent / "record").read_text())
    loaded = load_key(DkimSettings("relay.example", "s1", pem))
    assert loaded is not None
    return loaded


class TestSignedHeaders:
    def test_present_fields_once_each_oversigned_once_more(self) -> None:
        names = [n.decode() for n in signed_headers(MESSAGE)]
        assert names.count("from") == 2
        assert names.count("subject") == 2
        assert names.count("to") == 2
        assert names.count("date") == 1
        assert names.count("message-id") == 1
        assert names.count("reply-to") == 1  # absent: signed as absent
        assert "received" not in names
        assert "in-reply-to" not in names  # absent and not oversigned: may be left out


class TestSigner:
    async def test_without_a_key_the_message_is_unchanged(self) -> None:
        assert await Signer().sign(MESSAGE) is MESSAGE

    async def test_signed_message_verifies(self, key: SigningKey, dns_server: DnsServer) -> None:
        signed = await Signer(key).sign(MESSAGE)
        assert signed.endswith(MESSAGE)
        assert await verifies(signed, dns_server)
        assert signature_tags(signed)["c"] == "relaxed/relaxed"

    async def test_a_message_signed_in_the_thread_verifies(
        self, key: SigningKey, dns_server: DnsServer
    ) -> None:
        large = MESSAGE + (b"x" * 76 + b"\r\n") * (ON_LOOP_MAX // 78 + 1)
        assert len(large) > ON_LOOP_MAX
        signed = await Signer(key).sign(large)
        assert signed.endswith(large)
        assert await verifies(signed, dns_server)

    async def test_mail_dkimpy_cannot_parse_goes_unsigned(self, key: SigningKey) -> None:
        broken = b"From: a@b.example\r\nthis line is no header\r\n\r\nbody\r\n"
        assert await Signer(key).sign(broken) == broken

    async def test_the_outbox_signs_what_it_writes(
        self, key: SigningKey, dns_server: DnsServer, tmp_path: Path
    ) -> None:
        delivery: Delivery = to("bounce@relay.example", "y@buyer.example", "m1")
        await OutboxTransport(tmp_path, Signer(key)).send(delivery, MESSAGE)
        written = (tmp_path / "m1.eml").read_bytes()
        assert written.startswith(b"Return-Path: <bounce@relay.example>\r\n")
        assert await verifies(written, dns_server)


class TestOpenSSLSignature:
    def test_byte_identical_to_dkimpys_own(
        self, pem: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RSASSA-PKCS1-v1_5 is deterministic: the same message, key and t= must give the
        same bytes as dkimpy's pure-Python signer, so any drift in the fast path shows."""
        key = load_key(DkimSettings("relay.example", "s1", pem))
        assert key is not None
        monkeypatch.setattr(time, "time", lambda: 1_796_000_000.0)  # one t= for both
        body = b"".join(b"line %d \t with  spaces\r\n" % i for i in range(200)) + b"\r\n\r\n"
        for message in (MESSAGE, MESSAGE + body):
            theirs: bytes = dkim.sign(message, b"s1", b"relay.example", key.pem,
                                      canonicalize=CANONICALIZATION,
                                      include_headers=signed_headers(message))
            assert sign(key, message) == theirs + message
