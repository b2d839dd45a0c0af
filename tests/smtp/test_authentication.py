"""Inbound sender authentication over SMTP (SPEC §2.1): DKIM or SPF aligned with From, with
the keys and SPF records served by a DNS server on loopback that records every query."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import threading
from pathlib import Path
from typing import Any

import dkim
import nacl.signing
import pytest

from relay import replies
from relay.auth.resolver import OUTCOMES
from relay.config import AuthSettings, DnsSettings
from relay.dkim_keys import new_key, private_pem, record_name, txt_value
from relay.operations import Context
from relay.operations.messages import show_message
from tests.dns_server import DnsServer
from tests.smtp.cli import run_relay
from tests.smtp.conftest import (
    BUYER,
    SELLER,
    Answer,
    Client,
    World,
    WorldFactory,
    compose,
)
from tests.smtp.test_delivery import remote_bounce
from tests.smtp.test_metrics import ON, scrape, value
from tests.smtp.test_protocol import Raw
from tests.smtp.test_send import SHIPPING_VARS, _config

SHOP = "acme-shop.example"  # SELLER's domain
SELECTOR = "mail2026"
AUTHSERV = "mx.relay.example"  # the test relay's server.hostname
SPF_PASS = "v=spf1 ip4:127.0.0.1 -all"  # the test client connects from 127.0.0.1
SPF_FAIL = "v=spf1 ip4:192.0.2.1 -all"


@dataclasses.dataclass(frozen=True)
class Key:
    pem: bytes
    txt: str


@pytest.fixture(scope="session")
def key() -> Key:
    made = new_key()
    return Key(private_pem(made), txt_value(made))


def publish(dns: DnsServer, key: Key, domain: str, selector: str = SELECTOR) -> None:
    dns.txt(record_name(selector, domain), key.txt)


def sign(message: bytes, key: Key, domain: str, selector: str = SELECTOR, *,
         length: bool = False, algorithm: bytes = b"rsa-sha256") -> bytes:
    """DKIM-signed as a sender's mail system signs it (dkimpy, relaxed/relaxed); with
    `length`, the signature says how much of the body it covers (l=)."""
    signature: bytes = dkim.sign(message, selector.encode(), domain.encode(), key.pem,
                                 canonicalize=(b"relaxed", b"relaxed"),
                                 include_headers=[b"from", b"to", b"subject", b"date",
                                                  b"message-id"], length=length,
                                 signature_algorithm=algorithm)
    return signature + message


@pytest.fixture
async def checking(make_world: WorldFactory, dns_server: DnsServer) -> World:
    """A relay with auth.require = "dkim-or-spf", asking the loopback DNS server."""
    return await make_world(auth={"require": "dkim-or-spf"},
                            dns={"nameservers": [dns_server.nameserver], "timeout": "1s"})


async def seller_sends(world: World, message: bytes | None = None, **extra: Any) -> Answer:
    alias = world.aliases.buyer_alias
    async with Client(world.port) as client:
        return await client.send(SELLER, alias, message or compose(SELLER, alias, **extra))


def message_id(answer: Answer) -> str:
    assert answer.code == 250, answer
    return answer.text.rsplit(" ", 1)[1]


def refused_for_authentication(answer: Answer) -> bool:
    return answer.code == 550 and answer.text.startswith("5.7.26 ")


class TestAccepted:
    async def test_aligned_dkim(self, checking: World, dns_server: DnsServer, key: Key) -> None:
        """Signed for the From domain, no SPF record at all: accepted, the key was asked for."""
        publish(dns_server, key, SHOP)
        alias = checking.aliases.buyer_alias
        answer = await seller_sends(checking, sign(compose(SELLER, alias), key, SHOP))
        assert answer.code == 250, answer
        assert (f"{SELECTOR}._domainkey.{SHOP}", "TXT", "udp") in dns_server.queries

    async def test_aligned_ed25519(self, checking: World, dns_server: DnsServer) -> None:
        """RFC 8463: an ed25519-sha256 signature alone verifies (dkimpy needs pynacl)."""
        secret = nacl.signing.SigningKey.generate()
        public = base64.b64encode(bytes(secret.verify_key)).decode()
        dns_server.txt(record_name("ed", SHOP), f"v=DKIM1; k=ed25519; p={public}")
        alias = checking.aliases.buyer_alias
        message = compose(SELLER, alias)
        signature = dkim.sign(message, b"ed", SHOP.encode(), base64.b64encode(bytes(secret)),
                              signature_algorithm=b"ed25519-sha256",
                              include_headers=[b"from", b"to", b"subject"])
        answer = await seller_sends(checking, signature + message)
        assert answer.code == 250, answer

    async def test_aligned_spf(self, checking: World, dns_server: DnsServer) -> None:
        """Unsigned, but the From domain's SPF record lists the client's address."""
        dns_server.txt(SHOP, SPF_PASS)
        answer = await seller_sends(checking)
        assert answer.code == 250, answer
        assert (SHOP, "TXT", "udp") in dns_server.queries

    async def test_a_subdomain_signing_aligns(self, checking: World, dns_server: DnsServer,
                                              key: Key) -> None:
        """Relaxed alignment: d=mail.acme-shop.example is the same organisation as the From."""
        publish(dns_server, key, f"mail.{SHOP}")
        dns_server.txt(SHOP, SPF_FAIL)
        alias = checking.aliases.buyer_alias
        answer = await seller_sends(checking, sign(compose(SELLER, alias), key, f"mail.{SHOP}"))
        assert answer.code == 250, answer

    async def test_a_pass_wins_over_the_other_checks_temperror(
        self, checking: World, dns_server: DnsServer, key: Key
    ) -> None:
        """Aligned DKIM passes while the SPF lookup times out: accepted, not deferred."""
        publish(dns_server, key, SHOP)
        dns_server.time_out(SHOP)
        alias = checking.aliases.buyer_alias
        answer = await seller_sends(checking, sign(compose(SELLER, alias), key, SHOP))
        assert answer.code == 250, answer
        assert (SHOP, "TXT", "udp") in dns_server.queries

    @pytest.mark.parametrize(("tag", "broken"), [
        (b"v=1;", b"v=1; l=;"), (b"i=@acme-shop.example;", b"i=acme-shop.example;")])
    async def test_a_signature_dkimpy_cannot_process_leaves_spf_to_decide(
        self, checking: World, dns_server: DnsServer, key: Key, tag: bytes, broken: bytes
    ) -> None:
        """dkimpy raises ValueError on an empty l= and IndexError on an i= equal to d=: that
        signature is a permerror, and SPF passing accepts the message (not 451 4.3.0)."""
        publish(dns_server, key, SHOP)
        dns_server.txt(SHOP, SPF_PASS)
        alias = checking.aliases.buyer_alias
        signed = sign(compose(SELLER, alias), key, SHOP)
        assert tag in signed
        signed = signed.replace(tag, broken, 1)
        answer = await seller_sends(checking, signed)
        archived = await checking.relay.store.messages.archived(message_id(answer))
        assert b"dkim=permerror (aligned with From)" in archived["received"]


class TestRefused:
    async def test_neither_passes(self, checking: World, dns_server: DnsServer) -> None:
        """Unsigned and SPF fails: 550 5.7.26, saying both, with the rule on record."""
        dns_server.txt(SHOP, SPF_FAIL)
        answer = await seller_sends(checking)
        assert refused_for_authentication(answer), answer
        assert "it has no DKIM signature" in answer.text
        assert f"SPF for {SHOP} did not pass (fail) for the sending server 127.0.0.1" in (
            answer.text)
        [logged] = await checking.relay.store.messages.records(everything=True)
        context = Context(checking.relay.store, checking.relay.settings)
        view = await show_message(context, logged.id)
        assert (logged.status, view.rule) == ("refused", "not-authenticated")
        assert checking.upstream.handler.messages == []

    async def test_buyer_mail_is_checked_too(self, checking: World,
                                             dns_server: DnsServer) -> None:
        alias = checking.aliases.seller_alias
        async with Client(checking.port) as client:
            answer = await client.send(BUYER, alias, compose(BUYER, alias))
        assert refused_for_authentication(answer), answer
        assert "mailbox.example publishes no SPF record" in answer.text

    async def test_a_body_changed_after_signing(self, checking: World, dns_server: DnsServer,
                                                key: Key) -> None:
        publish(dns_server, key, SHOP)
        alias = checking.aliases.buyer_alias
        signed = sign(compose(SELLER, alias, body="Pay 10 EUR.\n"), key, SHOP)
        answer = await seller_sends(checking, signed.replace(b"Pay 10 EUR", b"Pay 99 EUR"))
        assert refused_for_authentication(answer), answer
        assert f"the DKIM signature for {SHOP} did not verify (the body was changed" in (
            answer.text)

    async def test_text_appended_to_a_body_signed_with_l(
        self, checking: World, dns_server: DnsServer, key: Key
    ) -> None:
        """l= covering the whole body passes; text appended after the signed prefix does
        not ride on that signature (RFC 6376 §8.2): dkim=policy, refused."""
        publish(dns_server, key, SHOP)
        alias = checking.aliases.buyer_alias
        signed = sign(compose(SELLER, alias, body="Pay 10 EUR.\n"), key, SHOP, length=True)
        assert b" l=" in signed
        assert (await seller_sends(checking, signed)).code == 250
        answer = await seller_sends(checking, signed + b"Pay to IBAN XX00 instead.\r\n")
        assert refused_for_authentication(answer), answer
        assert f"the DKIM signature for {SHOP} is not accepted (it signs only the first " in (
            answer.text)

    async def test_a_revoked_key(self, checking: World, dns_server: DnsServer,
                                 key: Key) -> None:
        """RFC 6376 §3.6.1: an empty p= is a revoked key; the sender hears that, not that
        the signature does not match."""
        dns_server.txt(record_name(SELECTOR, SHOP), "v=DKIM1; k=rsa; p=")
        alias = checking.aliases.buyer_alias
        answer = await seller_sends(checking, sign(compose(SELLER, alias), key, SHOP))
        assert refused_for_authentication(answer), answer
        assert f"the DKIM signature for {SHOP} did not verify (the key has been revoked" in (
            answer.text)

    async def test_an_rsa_sha1_signature(self, checking: World, dns_server: DnsServer,
                                         key: Key) -> None:
        """RFC 8301 §3.1: verifiers must not count rsa-sha1 as valid; dkim=policy, refused."""
        publish(dns_server, key, SHOP)
        alias = checking.aliases.buyer_alias
        signed = sign(compose(SELLER, alias), key, SHOP, algorithm=b"rsa-sha1")
        answer = await seller_sends(checking, signed)
        assert refused_for_authentication(answer), answer
        assert f"the DKIM signature for {SHOP} is not accepted (it is rsa-sha1" in answer.text

    async def test_a_signature_by_another_organisation(
        self, checking: World, dns_server: DnsServer, key: Key
    ) -> None:
        """A valid signature, but by the mail provider's domain, not the seller's."""
        publish(dns_server, key, "bulk-mailer.example")
        alias = checking.aliases.buyer_alias
        signed = sign(compose(SELLER, alias), key, "bulk-mailer.example")
        answer = await seller_sends(checking, signed)
        assert refused_for_authentication(answer), answer
        assert f"it is DKIM-signed by bulk-mailer.example, not by {SHOP}" in answer.text

    async def test_a_long_refusal_comes_in_lines_a_client_reads_whole(
        self, checking: World, dns_server: DnsServer, key: Key
    ) -> None:
        """Five signers with long names make a sentence longer than a reply line may be
        (RFC 5321: 512 octets): it comes as a multi-line 550, every line in the limit."""
        alias = checking.aliases.buyer_alias
        signed = compose(SELLER, alias)
        signers = [letter * 60 + ".example" for letter in "vwxyz"]
        for signer in signers:
            publish(dns_server, key, signer, selector="s")
            signed = sign(signed, key, signer, selector="s")
        raw = await Raw.connect(checking.port)
        await raw.reply()
        for command in (b"EHLO client.example", f"MAIL FROM:<{SELLER}>".encode(),
                        f"RCPT TO:<{alias}>".encode(), b"DATA"):
            await raw.say(command + b"\r\n")
        raw.writer.write(signed + b"\r\n.\r\n")
        lines = [await raw.reader.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(await raw.reader.readline())
        raw.close()
        assert len(lines) > 1
        assert all(len(line) <= 512 and line.startswith((b"550-5.7.26 ", b"550 5.7.26 "))
                   for line in lines), lines
        text = " ".join(line[11:].decode().rstrip("\r\n") for line in lines)
        assert all(signer in text for signer in signers), text


    async def test_spf_for_an_envelope_sender_of_another_organisation(
        self, checking: World, dns_server: DnsServer
    ) -> None:
        """SPF passes for the MAIL FROM domain, but it is not the From domain's."""
        await checking.relay.store.directory.authorise("s1", "returns@bulk-mailer.example")
        dns_server.txt("bulk-mailer.example", SPF_PASS)
        alias = checking.aliases.buyer_alias
        async with Client(checking.port) as client:
            answer = await client.send("returns@bulk-mailer.example", alias,
                                       compose(SELLER, alias))
        assert refused_for_authentication(answer), answer
        assert "the envelope sender's domain (bulk-mailer.example) is not the From" in (
            answer.text)


class TestDnsTrouble:
    async def test_an_spf_timeout_defers(self, checking: World, dns_server: DnsServer) -> None:
        dns_server.time_out(SHOP)
        answer = await seller_sends(checking)
        assert (answer.code, answer.text.split()[0]) == (451, "4.7.24"), answer
        assert f"the SPF record of {SHOP}" in answer.text

    async def test_an_spf_servfail_defers(self, checking: World, dns_server: DnsServer) -> None:
        dns_server.fail(SHOP)
        answer = await seller_sends(checking)
        assert (answer.code, answer.text.split()[0]) == (451, "4.7.24"), answer

    async def test_a_dkim_key_timeout_defers(self, checking: World, dns_server: DnsServer,
                                             key: Key) -> None:
        """SPF fails for good, the aligned signature's key does not answer: 451, not 550."""
        dns_server.txt(SHOP, SPF_FAIL)
        dns_server.time_out(record_name(SELECTOR, SHOP))
        alias = checking.aliases.buyer_alias
        answer = await seller_sends(checking, sign(compose(SELLER, alias), key, SHOP))
        assert (answer.code, answer.text.split()[0]) == (451, "4.7.5"), answer

    async def test_a_missing_key_is_permanent(self, checking: World, dns_server: DnsServer,
                                              key: Key) -> None:
        """NXDOMAIN for the key is no key: the signature fails, and so does the message."""
        dns_server.txt(SHOP, SPF_FAIL)
        alias = checking.aliases.buyer_alias
        answer = await seller_sends(checking, sign(compose(SELLER, alias), key, SHOP))
        assert refused_for_authentication(answer), answer
        assert f"no DKIM key is published at {SELECTOR}._domainkey.{SHOP}" in answer.text


class TestNotChecked:
    @pytest.mark.usefixtures("quiet_relay_logs")
    async def test_relay_send(self, checking: World, dns_server: DnsServer, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
        """A template sent with the CLI is vouched for by the operator: no DNS query."""
        await checking.relay.store.directory.set_order_status("o1", "shipped")
        extra = (f'[auth]\nrequire = "dkim-or-spf"\n'
                 f'[dns]\nnameservers = ["{dns_server.nameserver}"]\n')
        result = await run_relay(capsys, _config(tmp_path, checking, extra=extra), "send",
                                 "--seller", "s1", "--order", "o1", "--template",
                                 "shipping-confirmation", *SHIPPING_VARS)
        assert (result.status, result.err) == (0, "")
        await checking.upstream.handler.wait_for(1, seconds=15)
        assert dns_server.queries == []

    async def test_postmaster(self, checking: World, dns_server: DnsServer) -> None:
        async with Client(checking.port) as client:
            answer = await client.send("stranger@elsewhere.example", "postmaster@relay.example",
                                       compose("stranger@elsewhere.example", "postmaster"))
        assert answer.code == 250, answer
        assert dns_server.queries == []

    async def test_a_bounce_at_a_verp_address(self, checking: World,
                                              dns_server: DnsServer) -> None:
        dns_server.txt(SHOP, SPF_PASS)
        assert (await seller_sends(checking)).code == 250
        (forwarded,) = await checking.upstream.handler.wait_for(1)
        dns_server.queries.clear()
        async with Client(checking.port) as client:
            await client.command("MAIL", "FROM:<>")
            assert (await client.rcpt(forwarded.mail_from)).code == 250
            assert (await client.data(remote_bounce(forwarded.mail_from))).code == 250
        assert dns_server.queries == []

    async def test_require_none_asks_no_dns(self, make_world: WorldFactory,
                                            dns_server: DnsServer) -> None:
        world = await make_world(dns={"nameservers": [dns_server.nameserver]})
        answer = await seller_sends(world)
        assert answer.code == 250, answer
        assert dns_server.queries == []


class TestReload:
    async def test_a_reload_turns_it_on(self, make_world: WorldFactory,
                                        dns_server: DnsServer) -> None:
        """auth.require and [dns] apply to the sessions that start after a reload."""
        world = await make_world()
        assert (await seller_sends(world)).code == 250
        settings = world.relay.settings
        await world.relay.reload(dataclasses.replace(
            settings, auth=AuthSettings(require="dkim-or-spf"),
            dns=DnsSettings(nameservers=(dns_server.nameserver,))))
        assert refused_for_authentication(await seller_sends(world))
        assert (SHOP, "TXT", "udp") in dns_server.queries


    async def test_reloads_leave_no_threads_behind(self, checking: World,
                                                   dns_server: DnsServer) -> None:
        """Each reload builds a new checker; SPF's threads are the process's, not its own."""
        dns_server.txt(SHOP, SPF_PASS)
        assert (await seller_sends(checking)).code == 250
        before = spf_threads()
        for _ in range(3):
            await checking.relay.reload(dataclasses.replace(checking.relay.settings))
            assert (await seller_sends(checking)).code == 250
        assert spf_threads() == before


def spf_threads() -> int:
    return sum(t.name.startswith("spf") for t in threading.enumerate())

class TestMetrics:
    @pytest.mark.usefixtures("quiet_relay_logs")
    async def test_each_lookup_is_counted_by_outcome(self, make_world: WorldFactory,
                                                     dns_server: DnsServer) -> None:
        world = await make_world(metrics=ON, auth={"require": "dkim-or-spf"},
                                 dns={"nameservers": [dns_server.nameserver], "timeout": "1s"})
        dns_server.txt(SHOP, SPF_PASS)
        dns_server.fail("mailbox.example")  # the buyer's domain
        assert (await seller_sends(world)).code == 250
        alias = world.aliases.seller_alias
        async with Client(world.port) as client:
            assert (await client.send(BUYER, alias, compose(BUYER, alias))).code == 451
        samples = await scrape(world)
        counted = {outcome: value(samples, "relay_dns_lookups_total", outcome=outcome)
                   for outcome in OUTCOMES}
        assert counted == {"ok": 1, "nxdomain": 0, "nodata": 0, "timeout": 0, "servfail": 1,
                           "error": 0}


class TestRecord:
    async def test_archived_with_the_verdict_and_delivered_without(
        self, checking: World, dns_server: DnsServer, key: Key
    ) -> None:
        """The received form keeps our Authentication-Results, not one a sender forged with
        our authserv-id (another server's stays); the recipient's copy has none."""
        publish(dns_server, key, SHOP)
        dns_server.txt(SHOP, SPF_PASS)
        alias = checking.aliases.buyer_alias
        forged = f"Authentication-Results: {AUTHSERV}; dkim=pass header.d=forged.example\r\n"
        theirs = "Authentication-Results: mx.shop-provider.example; spf=pass\r\n"
        message = sign(compose(SELLER, alias, extra=forged + theirs), key, SHOP)
        answer = await seller_sends(checking, message)
        archived = await checking.relay.store.messages.archived(message_id(answer))
        received = email.message_from_bytes(archived["received"], policy=email.policy.default)
        results = [" ".join(str(v).split()) for v in received.get_all(
            "Authentication-Results", [])]
        assert len(results) == 2, results
        ours, other = results
        assert ours.startswith(f"{AUTHSERV}; dkim=pass (aligned with From) ")
        assert f"header.d={SHOP} header.s={SELECTOR}" in ours
        assert f"spf=pass (aligned with From; client 127.0.0.1) smtp.mailfrom={SHOP}" in ours
        assert other == "mx.shop-provider.example; spf=pass"
        # The rest as it came.
        assert archived["received"].endswith(message.replace(forged.encode(), b""))
        (delivered,) = await checking.upstream.handler.wait_for(1)
        assert b"authentication-results" not in delivered.data.lower()
        assert b"authentication-results" not in archived["delivered"].lower()

    async def test_refusal_reply_names_the_rule(self) -> None:
        assert replies.S550_NOT_AUTHENTICATED.rule == "not-authenticated"
        assert str(replies.S550_NOT_AUTHENTICATED).startswith("550 5.7.26 ")
