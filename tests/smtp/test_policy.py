"""Opt-out, orders and the daily quota over SMTP, each rule alone and together (SPEC §2.2)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from relay import replies
from relay.config.settings import PolicySettings
from relay.replies import Refused, Reply
from relay.store import Store
from tests.conftest import DOMAIN
from tests.smtp.conftest import (
    BUYER,
    OTHER_SELLER,
    SELLER,
    Answer,
    Client,
    World,
    WorldFactory,
    compose,
)
from tests.smtp.process import RelayProcess, free_port, write_config
from tests.smtp.test_round_trip import parsed
from tests.smtp.upstream import PASSWORD, USERNAME, Certificates, Upstream

CRITICAL = {"policy": {"critical_reasons": ["delivery-scheduling"]},
            "contact_reasons": {"delivery-scheduling": ["unshipped", "shipped"]}}


def same(answer: Answer, reply: Reply) -> None:
    assert (answer.code, answer.text) == (reply.code, f"{reply.enhanced} {reply.text}")


def message_id_of(answer: Answer) -> str:
    """The relay's id of an accepted message, from its 250 line."""
    assert answer.code == 250, str(answer)
    return answer.text.rsplit(" ", 1)[1]


async def column(world: World, message_id: str, name: str) -> object:
    def read(connection: Connection) -> object:
        return connection.execute(text(f"SELECT {name} FROM messages WHERE id = :id"),
                                  {"id": message_id}).scalar()

    return await world.relay.store.database.run_connection(read)


async def used_today(world: World, seller: str = "s1") -> int:
    return await world.relay.store.quota.used(seller, datetime.now(UTC).date())


async def send(world: World, sender: str, alias: str, **fields: str) -> Answer:
    async with Client(world.port) as c:
        return await c.send(sender, alias, compose(sender, alias, **fields))


async def buyer_writes(world: World, alias: str | None = None) -> str:
    """The buyer writes to a seller; the relay-issued Message-ID the seller's client sees."""
    alias = alias or world.aliases.seller_alias
    before = len(world.upstream.handler.messages)
    assert (await send(world, BUYER, alias, subject="A question")).code == 250
    delivered = (await world.upstream.handler.wait_for(before + 1))[before]
    return str(parsed(delivered.data)["Message-ID"])


@pytest.fixture
async def opted_out(world: World) -> World:
    await world.relay.store.directory.set_opt_out("b1", True)
    return world


@pytest.fixture
async def other_store(store_url: str) -> AsyncIterator[Store]:
    """The store as another process (the CLI) sees it: nothing shared with the relay's."""
    store = Store(store_url, 35, DOMAIN)
    yield store
    await store.close()


class TestOptOut:
    async def test_cold_mail_is_refused(self, opted_out: World) -> None:
        """A seller's unsolicited message to a buyer who opted out: 550 5.7.1, nothing sent."""
        same(await send(opted_out, SELLER, opted_out.aliases.buyer_alias),
             replies.S550_OPTED_OUT)
        assert opted_out.upstream.handler.messages == []

    async def test_a_submitted_message_is_refused_the_same(self, opted_out: World) -> None:
        """Mail handed over without SMTP (`relay send`, the API) meets the same rule."""
        alias = opted_out.aliases.buyer_alias
        with pytest.raises(Refused) as refused:
            await opted_out.relay.intake.submit(alias, compose(SELLER, alias), party="s1",
                                                sender=SELLER, origin="test")
        assert refused.value.reply == replies.S550_OPTED_OUT

    async def test_opt_in_and_out_apply_at_once(self, world: World, other_store: Store) -> None:
        """Opting out and back in from another process changes the very next message."""
        alias = world.aliases.buyer_alias
        assert (await send(world, SELLER, alias)).code == 250
        await other_store.directory.set_opt_out("b1", True)
        same(await send(world, SELLER, alias), replies.S550_OPTED_OUT)
        await other_store.directory.set_opt_out("b1", False)
        assert (await send(world, SELLER, alias)).code == 250

    async def test_reply_in_a_thread_the_buyer_started(self, opted_out: World) -> None:
        """A reply naming the buyer's relay-issued Message-ID is delivered."""
        relay_id = await buyer_writes(opted_out)
        alias = opted_out.aliases.buyer_alias
        answer = await send(opted_out, SELLER, alias, subject="Re: A question",
                            extra=f"In-Reply-To: {relay_id}\r\nReferences: {relay_id}\r\n")
        assert answer.code == 250

    async def test_a_later_reply_in_that_thread(self, opted_out: World) -> None:
        """References alone still name the buyer's message: the seller's follow-up passes."""
        relay_id = await buyer_writes(opted_out)
        alias = opted_out.aliases.buyer_alias
        first = "<first@acme-shop.example>"
        assert (await send(opted_out, SELLER, alias, message_id=first,
                           extra=f"In-Reply-To: {relay_id}\r\n")).code == 250
        answer = await send(opted_out, SELLER, alias,
                            extra=f"In-Reply-To: {first}\r\nReferences: {relay_id} {first}\r\n")
        assert answer.code == 250

    async def test_own_message_ids_do_not_make_a_thread(self, opted_out: World) -> None:
        """Naming the seller's own earlier message (not relay-issued) is still unsolicited."""
        await opted_out.relay.store.directory.set_opt_out("b1", False)
        alias = opted_out.aliases.buyer_alias
        first = "<cold@acme-shop.example>"
        assert (await send(opted_out, SELLER, alias, message_id=first)).code == 250
        await opted_out.relay.store.directory.set_opt_out("b1", True)
        same(await send(opted_out, SELLER, alias,
                        extra=f"In-Reply-To: {first}\r\nReferences: {first}\r\n"),
             replies.S550_OPTED_OUT)

    async def test_only_a_relay_issued_id_makes_a_thread(self, opted_out: World) -> None:
        """The buyer's own Message-ID (known only from outside the relay) opens nothing."""
        original = "<question@mailbox.example>"
        assert (await send(opted_out, BUYER, opted_out.aliases.seller_alias,
                           message_id=original)).code == 250
        same(await send(opted_out, SELLER, opted_out.aliases.buyer_alias,
                        extra=f"In-Reply-To: {original}\r\nReferences: {original}\r\n"),
             replies.S550_OPTED_OUT)

    async def test_a_thread_of_another_relationship_does_not_count(
        self, opted_out: World
    ) -> None:
        """The buyer's relay-issued ID from their pair with another seller opens nothing here."""
        store = opted_out.relay.store.directory
        other = await store.aliases("b1", "s2")
        relay_id = await buyer_writes(opted_out, other.seller_alias)
        same(await send(opted_out, SELLER, opted_out.aliases.buyer_alias,
                        extra=f"In-Reply-To: {relay_id}\r\n"), replies.S550_OPTED_OUT)

    async def test_an_unknown_relay_id_does_not_count(self, opted_out: World) -> None:
        """A made-up ID at the relay's domain is not a thread."""
        same(await send(opted_out, SELLER, opted_out.aliases.buyer_alias,
                        extra=f"In-Reply-To: <{'0' * 32}@{DOMAIN}>\r\n"),
             replies.S550_OPTED_OUT)

    async def test_critical_reason_passes_marked_and_dropped(
        self, make_world: WorldFactory
    ) -> None:
        """An allowed critical reason is delivered, marked in the archive, its header removed."""
        world = await make_world(**CRITICAL)
        await world.relay.store.directory.set_opt_out("b1", True)
        answer = await send(world, SELLER, world.aliases.buyer_alias,
                            extra="X-Contact-Reason: Delivery-Scheduling\r\n")
        message_id = message_id_of(answer)
        assert await column(world, message_id, "contact_reason") == "delivery-scheduling"
        (delivered,) = await world.upstream.handler.wait_for(1)
        assert parsed(delivered.data)["X-Contact-Reason"] is None
        assert b"contact-reason" not in delivered.data.lower()

    async def test_a_reason_is_not_marked_when_not_needed(
        self, make_world: WorldFactory
    ) -> None:
        """A buyer who did not opt out: the label let nothing through, so it is not recorded."""
        world = await make_world(**CRITICAL)
        answer = await send(world, SELLER, world.aliases.buyer_alias,
                            extra="X-Contact-Reason: delivery-scheduling\r\n")
        assert await column(world, message_id_of(answer), "contact_reason") is None
        (delivered,) = await world.upstream.handler.wait_for(1)
        assert parsed(delivered.data)["X-Contact-Reason"] is None

    @pytest.mark.parametrize("reason", ["marketing", "product-customization", ""])
    async def test_other_reasons_do_not_pass(self, make_world: WorldFactory,
                                             reason: str) -> None:
        """Not critical, or critical but not allowed in [contact_reasons]: refused."""
        world = await make_world(**CRITICAL)
        await world.relay.store.directory.set_opt_out("b1", True)
        same(await send(world, SELLER, world.aliases.buyer_alias,
                        extra=f"X-Contact-Reason: {reason}\r\n"), replies.S550_OPTED_OUT)

    async def test_a_reason_needs_an_order_in_an_allowed_status(
        self, make_world: WorldFactory
    ) -> None:
        """Once the pair's only order is delivered, delivery-scheduling no longer passes."""
        world = await make_world(**CRITICAL)
        store = world.relay.store.directory
        await store.set_opt_out("b1", True)
        await store.set_order_status("o1", "delivered")
        alias = world.aliases.buyer_alias
        extra = "X-Contact-Reason: delivery-scheduling\r\n"
        same(await send(world, SELLER, alias, extra=extra), replies.S550_OPTED_OUT)
        await store.put_order("o2", "b1", "s1", "shipped")
        assert (await send(world, SELLER, alias, extra=extra)).code == 250


class TestOrders:
    async def test_seller_without_an_order_is_refused(self, world: World) -> None:
        """s2 has no order with b1: a message it starts is refused 550 5.7.1."""
        aliases = await world.relay.store.directory.aliases("b1", "s2")
        same(await send(world, OTHER_SELLER, aliases.buyer_alias), replies.S550_NO_ORDER)
        assert world.upstream.handler.messages == []

    async def test_buyer_may_write_without_an_order(self, world: World) -> None:
        """A question before buying reaches the seller, and the seller may answer it."""
        aliases = await world.relay.store.directory.aliases("b1", "s2")
        relay_id = await buyer_writes(world, aliases.seller_alias)
        assert (await send(world, OTHER_SELLER, aliases.buyer_alias,
                           extra=f"In-Reply-To: {relay_id}\r\n")).code == 250

    async def test_a_cancelled_order_still_counts(self, world: World) -> None:
        """The seller may have to write about the refund of a cancelled order."""
        store = world.relay.store.directory
        await store.put_order("o9", "b1", "s2", "cancelled")
        aliases = await store.aliases("b1", "s2")
        assert (await send(world, OTHER_SELLER, aliases.buyer_alias)).code == 250


class TestDailyQuota:
    async def test_over_the_limit_is_deferred_naming_it(self, make_world: WorldFactory) -> None:
        """quota_base 3 and no per-order share: three pass, the fourth is 450 4.7.1 with 3."""
        world = await make_world(policy={"quota_base": 3, "quota_per_order": 0})
        alias = world.aliases.buyer_alias
        async with Client(world.port) as c:
            for _ in range(3):
                assert (await c.send(SELLER, alias, compose(SELLER, alias))).code == 250
            same(await c.send(SELLER, alias, compose(SELLER, alias)), replies.daily_limit(3))
        assert "Daily message limit of 3 reached" in str(replies.daily_limit(3))
        assert await used_today(world) == 3

    async def test_orders_raise_the_limit(self, make_world: WorldFactory) -> None:
        """One order in 30 days is one order per day: limit 1 * 2 + 1 = 3."""
        world = await make_world(policy={"quota_base": 1, "quota_per_order": 2})
        alias = world.aliases.buyer_alias
        answers = [await send(world, SELLER, alias) for _ in range(4)]
        assert [a.code for a in answers] == [250, 250, 250, 450]
        same(answers[-1], replies.daily_limit(3))

    async def test_a_reload_applies_a_new_limit(self, make_world: WorldFactory) -> None:
        """SIGHUP's reload rebuilds the steps: a raised quota_base applies at once."""
        world = await make_world(policy={"quota_base": 1, "quota_per_order": 0})
        alias = world.aliases.buyer_alias
        assert (await send(world, SELLER, alias)).code == 250
        same(await send(world, SELLER, alias), replies.daily_limit(1))
        raised = PolicySettings(quota_base=2, quota_per_order=0)
        await world.relay.reload(dataclasses.replace(world.relay.settings, policy=raised))
        assert (await send(world, SELLER, alias)).code == 250
        same(await send(world, SELLER, alias), replies.daily_limit(2))

    async def test_buyers_have_no_quota(self, make_world: WorldFactory) -> None:
        """The quota is the seller's: buyer mail neither counts nor is limited."""
        world = await make_world(policy={"quota_base": 1, "quota_per_order": 0})
        for _ in range(2):
            assert (await send(world, BUYER, world.aliases.seller_alias)).code == 250
        assert await used_today(world) == 0

    async def test_twenty_parallel_senders_take_exactly_the_limit(
        self, make_world: WorldFactory
    ) -> None:
        """20 sessions at once against a limit of 5: five 250s, fifteen 450s, none over."""
        world = await make_world(policy={"quota_base": 5, "quota_per_order": 0},
                                 server={"max_connections": 50})
        alias = world.aliases.buyer_alias

        async def one(n: int) -> int:
            return (await send(world, SELLER, alias, body=f"parallel {n}\n")).code

        codes = await asyncio.gather(*(one(n) for n in range(20)))
        assert sorted(codes) == [250] * 5 + [450] * 15
        assert await used_today(world) == 5
        await world.upstream.handler.wait_for(5)

    async def test_refused_after_the_reservation_gives_it_back(
        self, make_world: WorldFactory
    ) -> None:
        """A message a content step refuses (554) leaves the day's count as it was."""
        world = await make_world(policy={"quota_base": 1, "quota_per_order": 0})
        alias = world.aliases.buyer_alias
        unclosed = (
            f"From: {SELLER}\r\nTo: {alias}\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            "Content-Type: text/plain\r\n\r\nhello\r\n"
        ).encode()
        async with Client(world.port) as c:
            same(await c.send(SELLER, alias, unclosed), replies.S554_BAD_BOUNDARY)
        assert await used_today(world) == 0
        assert (await send(world, SELLER, alias)).code == 250

    async def test_refused_and_consumed_do_not_count(self, make_world: WorldFactory) -> None:
        """Opt-out refusals and a kept auto-reply use nothing of a limit of 1."""
        world = await make_world(policy={"quota_base": 1, "quota_per_order": 0})
        alias = world.aliases.buyer_alias
        await world.relay.store.directory.set_opt_out("b1", True)
        same(await send(world, SELLER, alias), replies.S550_OPTED_OUT)
        await world.relay.store.directory.set_opt_out("b1", False)
        kept = await send(world, SELLER, alias, extra="Auto-Submitted: auto-replied\r\n")
        assert kept.code == 250
        assert "kept on record" in kept.text
        assert await used_today(world) == 0
        assert (await send(world, SELLER, alias)).code == 250
        assert (await send(world, SELLER, alias)).code == 450


class TestTogether:
    async def test_each_rule_in_turn(self, make_world: WorldFactory) -> None:
        """Opted out, no order and over quota: each refusal is the one that applies."""
        world = await make_world(policy={"quota_base": 2, "quota_per_order": 0}, **{
            "contact_reasons": CRITICAL["contact_reasons"]})
        directory = world.relay.store.directory
        s2 = await directory.aliases("b1", "s2")
        await directory.set_opt_out("b1", True)
        # s2, no order, buyer opted out: the opt-out speaks first.
        same(await send(world, OTHER_SELLER, s2.buyer_alias), replies.S550_OPTED_OUT)
        # A critical reason cannot stand in for an order s2 does not have.
        same(await send(world, OTHER_SELLER, s2.buyer_alias,
                        extra="X-Contact-Reason: delivery-scheduling\r\n"),
             replies.S550_OPTED_OUT)
        # The buyer asks s2 a question: s2 may answer, although opted out and without order.
        relay_id = await buyer_writes(world, s2.seller_alias)
        reply = f"In-Reply-To: {relay_id}\r\n"
        assert (await send(world, OTHER_SELLER, s2.buyer_alias, extra=reply)).code == 250
        assert (await send(world, OTHER_SELLER, s2.buyer_alias, extra=reply)).code == 250
        # s2's quota of 2 is used; s1's is its own.
        same(await send(world, OTHER_SELLER, s2.buyer_alias, extra=reply),
             replies.daily_limit(2))
        await directory.set_opt_out("b1", False)
        assert (await send(world, SELLER, world.aliases.buyer_alias)).code == 250
        assert await used_today(world, "s2") == 2
        assert await used_today(world, "s1") == 1


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
class TestTwoProcesses:
    async def test_no_overshoot_across_relays_on_one_store(
        self, store_url: str, upstream: Upstream, certificates: Certificates, tmp_path: Path
    ) -> None:
        """Two relay processes, 15 senders each, one limit of 7: exactly seven 250s."""
        secret = tmp_path / "password"
        secret.write_text(PASSWORD)
        relays = []
        try:
            for _ in range(2):
                port = free_port()
                config = write_config(tmp_path / f"relay-{port}.toml", {
                    "server": {"listen": f"127.0.0.1:{port}", "hostname": "mx.relay.example"},
                    "aliases": {"domain": DOMAIN},
                    "store": {"url": store_url},
                    "upstream": {"kind": "smtp", "host": "localhost", "port": upstream.port,
                                 "username": USERNAME, "password_file": str(secret),
                                 "ca_file": str(certificates.ca_file), "timeout": "10s"},
                    "policy": {"quota_base": 7, "quota_per_order": 0},
                    "admin": {"address": "ops@marketplace.example"},
                    "logging": {"level": "warning"},
                })
                relay = RelayProcess(config, port)
                relays.append(relay)
                await relay.start()
            first = relays[0]
            await first.cli("seller", "add", "s1", "--name", "Acme Shop", "--email", SELLER)
            await first.cli("buyer", "add", "b1", "--email", BUYER, "--name", "Bob")
            await first.cli("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
            alias = json.loads(await first.cli("alias", "show", "--buyer", "b1",
                                               "--seller", "s1"))["buyer_alias"]

            async def one(relay: RelayProcess, n: int) -> int:
                async with Client(relay.port) as c:
                    message = compose(SELLER, alias, body=f"from {relay.port}: {n}\n")
                    return (await c.send(SELLER, alias, message)).code

            codes = await asyncio.gather(*(one(r, n) for r in relays for n in range(15)))
            assert sorted(codes) == [250] * 7 + [450] * 23
            await upstream.handler.wait_for(7, seconds=30)
            await asyncio.sleep(0.5)
            assert len(upstream.handler.messages) == 7
        finally:
            for relay in relays:
                await relay.stop()
