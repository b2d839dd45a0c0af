"""Seller to buyer and back through the running relay, as both mail clients see it."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from relay.addresses import message_ids
from tests.smtp.conftest import BUYER, SELLER, Client, World, compose


def parsed(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


class TestRoundTrip:
    async def test_seller_to_buyer(self, world: World) -> None:
        """The buyer gets the mail from the shop's name and alias, never the seller's address."""
        async with Client(world.port) as c:
            answer = await c.send(SELLER, world.aliases.buyer_alias,
                                  compose(SELLER, world.aliases.buyer_alias,
                                          body=f"Regards,\n{SELLER}\n"))
        assert answer.code == 250
        (got,) = await world.upstream.handler.wait_for(1)
        assert got.rcpt_tos == [BUYER]
        assert got.mail_from.endswith("@relay.example")
        assert SELLER not in got.mail_from
        message = parsed(got.data)
        assert message["From"].addresses[0].addr_spec == world.aliases.seller_alias
        assert message["From"].addresses[0].display_name == "Acme Shop"
        assert str(message["To"]) == BUYER
        assert SELLER.encode() not in got.data.lower()
        assert message["Received"].startswith("by mx.relay.example (relay)")

    async def test_buyer_replies_to_the_from_address(self, world: World) -> None:
        """The buyer answers the alias in From; the seller gets it from the buyer's alias."""
        async with Client(world.port) as c:
            answer = await c.send(BUYER, world.aliases.seller_alias,
                                  compose(BUYER, world.aliases.seller_alias.upper()))
        assert answer.code == 250
        (got,) = await world.upstream.handler.wait_for(1)
        assert got.rcpt_tos == [SELLER]
        message = parsed(got.data)
        assert message["From"].addresses[0].addr_spec == world.aliases.buyer_alias
        assert message["From"].addresses[0].display_name == "Bob Buyer"
        assert BUYER.encode() not in got.data.lower()

    async def test_threads_survive_in_both_clients(self, world: World) -> None:
        """Three messages back and forth keep In-Reply-To/References right on each side."""
        upstream = world.upstream.handler
        buyer_alias, seller_alias = world.aliases.buyer_alias, world.aliases.seller_alias
        async with Client(world.port) as c:
            # 1. The seller writes; the buyer's client sees the relay's Message-ID r1.
            await c.send(SELLER, buyer_alias,
                         compose(SELLER, buyer_alias, message_id="<s1@acme-shop.example>"))
            r1 = parsed((await upstream.wait_for(1))[0].data)["Message-ID"]
            assert r1.endswith("@relay.example>")
            # 2. The buyer answers r1; the seller's client must see its own s1.
            await c.send(BUYER, seller_alias, compose(
                BUYER, seller_alias, message_id="<b2@mailbox.example>",
                extra=f"In-Reply-To: {r1}\r\nReferences: {r1}\r\n"))
            m2 = parsed((await upstream.wait_for(2))[1].data)
            assert m2["In-Reply-To"] == "<s1@acme-shop.example>"
            assert message_ids(m2["References"]) == ["<s1@acme-shop.example>"]
            r2 = m2["Message-ID"]
            # 3. The seller answers r2; the buyer's client must see r1 and its own b2.
            await c.send(SELLER, buyer_alias, compose(
                SELLER, buyer_alias, message_id="<s3@acme-shop.example>",
                extra=f"In-Reply-To: {r2}\r\nReferences: <s1@acme-shop.example> {r2}\r\n"))
            m3 = parsed((await upstream.wait_for(3))[2].data)
        assert m3["In-Reply-To"] == "<b2@mailbox.example>"
        assert message_ids(m3["References"]) == [r1, "<b2@mailbox.example>"]

    async def test_unknown_references_are_dropped(self, world: World) -> None:
        """Message-IDs from outside the relationship may name real hosts: they go."""
        async with Client(world.port) as c:
            await c.send(SELLER, world.aliases.buyer_alias, compose(
                SELLER, world.aliases.buyer_alias,
                extra="In-Reply-To: <x@private-host.acme-shop.example>\r\n"))
        (got,) = await world.upstream.handler.wait_for(1)
        assert b"private-host" not in got.data
        assert parsed(got.data)["In-Reply-To"] is None


class TestArchive:
    async def test_both_forms_archived_before_250(self, world: World) -> None:
        """What was received and what is delivered are both on record under the queued id."""
        await world.upstream.stop()  # nothing can be delivered: only the archive has it
        original = compose(SELLER, world.aliases.buyer_alias)
        async with Client(world.port) as c:
            answer = await c.send(SELLER, world.aliases.buyer_alias, original)
        assert answer.code == 250
        message_id = answer.text.rsplit(" ", 1)[-1]
        forms = await world.relay.store.messages.archived(message_id)
        assert forms["received"] == original
        assert world.aliases.seller_alias.encode() in forms["delivered"]
        assert [item.message_id for item in await world.relay.store.queue.items()] == [message_id]
