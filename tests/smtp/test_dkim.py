"""Outgoing DKIM: what the real upstream receives verifies with dkimpy against the record
`relay dkim keygen` printed, served by a DNS server on loopback."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relay.config import ConfigError, DkimSettings
from tests.dkim_check import signature_tags, verifies
from tests.dns_server import DnsServer
from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory, compose
from tests.smtp.test_seven_bit import parse, utf8_message

SELECTOR = "s2026"


@dataclasses.dataclass(frozen=True)
class Generated:
    key: Path
    record: dict[str, str]

    @property
    def dkim(self) -> dict[str, str]:
        return {"selector": self.record["selector"], "private_key_file": str(self.key)}


def keygen(directory: Path, selector: str = SELECTOR) -> Generated:
    """`relay dkim keygen` as an admin runs it: the key to dkim.private_key_file, the record
    on stdout."""
    key = directory / f"{selector}.pem"
    config = directory / f"{selector}.toml"
    config.write_text(f'[aliases]\ndomain = "relay.example"\n\n[dkim]\nselector = "{selector}"\n'
                      f'private_key_file = "{key}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "relay", "--config", str(config), "dkim", "keygen",
         "--selector", selector, "--json"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return Generated(key, json.loads(done.stdout))


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return keygen(tmp_path_factory.mktemp("dkim"))


@pytest.fixture
async def signing(make_world: WorldFactory, dns_server: DnsServer,
                  generated: Generated) -> World:
    """A relay signing with the generated key, whose record the DNS server publishes."""
    dns_server.txt(generated.record["name"], generated.record["txt"])
    return await make_world(dkim=generated.dkim)


async def forward_one(world: World, **extra: Any) -> bytes:
    alias = world.aliases.buyer_alias
    async with Client(world.port) as client:
        answer = await client.send(SELLER, alias, compose(SELLER, alias, **extra))
        assert answer.code == 250, answer
    (delivered,) = await world.upstream.handler.wait_for(1)
    return delivered.data


async def test_the_forwarded_copy_verifies(signing: World, dns_server: DnsServer) -> None:
    """Signed for the relay domain, relaxed/relaxed, over the headers that matter, with
    From and Subject signed once more than they occur, so none can be added."""
    data = await forward_one(signing)
    assert await verifies(data, dns_server)
    assert (f"{SELECTOR}._domainkey.relay.example", "TXT", "udp") in dns_server.queries
    tags = signature_tags(data)
    assert (tags["d"], tags["s"], tags["c"], tags["a"]) == (
        "relay.example", SELECTOR, "relaxed/relaxed", "rsa-sha256")
    signed = tags["h"].split(":")
    for name in ("from", "to", "subject", "date", "message-id", "mime-version",
                 "content-type"):
        assert name in signed, name
    assert signed.count("from") == 2
    assert signed.count("subject") == 2
    assert "reply-to" in signed  # absent, signed as absent


async def test_a_reply_signs_its_thread_headers(signing: World, dns_server: DnsServer) -> None:
    """The buyer's answer reaches the seller with In-Reply-To and References, signed."""
    first = await forward_one(signing)
    message_id = parse(first)["Message-ID"]
    alias = signing.aliases.seller_alias
    reply = compose(BUYER, alias, subject="Re: Your order",
                    extra=f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n")
    async with Client(signing.port) as client:
        assert (await client.send(BUYER, alias, reply)).code == 250
    answer = (await signing.upstream.handler.wait_for(2))[1].data
    assert b"\r\nIn-Reply-To: " in answer
    signed = signature_tags(answer)["h"].split(":")
    assert "in-reply-to" in signed
    assert "references" in signed
    assert await verifies(answer, dns_server)


async def test_a_changed_body_byte_fails(signing: World, dns_server: DnsServer) -> None:
    """The check can fail: one byte of the body changed after delivery breaks it."""
    data = await forward_one(signing, body="Your parcel left today.\n")
    assert await verifies(data, dns_server)
    tampered = data.replace(b"left today", b"left todaz")
    assert tampered != data
    assert not await verifies(tampered, dns_server)


async def test_a_changed_header_fails(signing: World, dns_server: DnsServer) -> None:
    data = await forward_one(signing, subject="Your order")
    tampered = data.replace(b"Subject: Your order", b"Subject: Your 0rder")
    assert tampered != data
    assert not await verifies(tampered, dns_server)


async def test_a_delivery_status_notice_verifies(signing: World, dns_server: DnsServer) -> None:
    """The bounce relay writes to the seller when the buyer's server refuses is signed too."""
    signing.upstream.handler.refuse[BUYER] = f"550 5.1.1 <{BUYER}>: mailbox unknown"
    alias = signing.aliases.buyer_alias
    async with Client(signing.port) as client:
        assert (await client.send(SELLER, alias, compose(SELLER, alias))).code == 250
    (notice,) = await signing.upstream.handler.wait_for(1)
    assert notice.rcpt_tos == [SELLER]
    assert b"multipart/report" in notice.data
    assert await verifies(notice.data, dns_server)


@pytest.mark.parametrize("smtputf8", [False, True], ids=["plain-upstream", "smtputf8-upstream"])
async def test_a_copy_re_encoded_for_the_upstream_verifies(
    signing: World, dns_server: DnsServer, smtputf8: bool
) -> None:
    """Mail passed on to the admin with 8-bit headers is re-encoded in 7 bits for an upstream
    without SMTPUTF8; the signature is made after, over what is sent."""
    signing.upstream.smtputf8 = smtputf8
    sent = utf8_message("postmaster@relay.example")
    async with Client(signing.port) as client:
        answer = await client.send("stranger@elsewhere.example", "postmaster@relay.example",
                                   sent)
        assert answer.code == 250
    (delivered,) = await signing.upstream.handler.wait_for(1)
    head = delivered.data.partition(b"\r\n\r\n")[0]
    assert head.isascii() != smtputf8
    assert await verifies(delivered.data, dns_server)


async def test_without_dkim_nothing_is_signed(world: World) -> None:
    data = await forward_one(world)
    assert b"dkim-signature" not in data.lower()


class TestKeyFile:
    async def test_a_missing_key_fails_at_start_naming_the_file(
        self, make_world: WorldFactory, tmp_path: Path
    ) -> None:
        missing = tmp_path / "nowhere.pem"
        with pytest.raises(ConfigError, match=(
                rf"^dkim\.private_key_file: cannot read {missing} \(No such file")):
            await make_world(dkim={"selector": SELECTOR, "private_key_file": str(missing)})

    async def test_a_reload_takes_a_new_key_and_refuses_a_bad_one(
        self, signing: World, dns_server: DnsServer, generated: Generated, tmp_path: Path
    ) -> None:
        """A bad key on reload leaves the old one signing; a good one signs the next message."""
        relay = signing.relay
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("-----BEGIN RSA PRIVATE KEY-----\nnot a key\n")
        bad = dataclasses.replace(relay.settings, dkim=DkimSettings(
            "relay.example", "other", garbage))
        with pytest.raises(ConfigError, match=rf"^dkim\.private_key_file: {garbage} is not"):
            await relay.reload(bad)
        data = await forward_one(signing)
        assert signature_tags(data)["s"] == SELECTOR
        assert await verifies(data, dns_server)

        rotated = keygen(tmp_path, "s2027")
        dns_server.txt(rotated.record["name"], rotated.record["txt"])
        await relay.reload(dataclasses.replace(relay.settings, dkim=DkimSettings(
            "relay.example", "s2027", rotated.key)))
        signing.upstream.handler.messages.clear()
        data = await forward_one(signing)
        assert signature_tags(data)["s"] == "s2027"
        assert await verifies(data, dns_server)
