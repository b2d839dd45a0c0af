"""Every refusal the front gives, over a real socket, compared with relay.replies."""

from __future__ import annotations

import asyncio

import pytest

from relay import replies
from relay.replies import Reply
from relay.store.tables import Base
from tests.smtp.conftest import (
    BUYER,
    OTHER_SELLER,
    SELLER,
    SELLER_STAFF,
    Answer,
    Client,
    World,
    compose,
)


def same(answer: Answer, reply: Reply) -> None:
    assert (answer.code, answer.text) == (reply.code, f"{reply.enhanced} {reply.text}")


def starts(answer: Answer, reply: Reply) -> None:
    assert answer.code == reply.code
    assert answer.text.startswith(reply.enhanced)


class TestRecipients:
    @pytest.mark.parametrize(
        "recipient",
        [
            "someone@elsewhere.example",
            "someone%elsewhere.example@relay.example",
            "someone!elsewhere.example@relay.example",
            '"someone@elsewhere.example"@relay.example',
            "@relay.example:someone@elsewhere.example",
            "someone@relay.example.elsewhere.example",
        ],
    )
    async def test_no_relaying_to_other_domains(self, world: World, recipient: str) -> None:
        """Open-relay attempts, %-hacks, source routes and quoted local parts get 550 5.7.1."""
        async with Client(world.port) as c:
            await c.mail(SELLER)
            same(await c.rcpt(recipient), replies.S550_NOT_LOCAL)

    async def test_unknown_alias(self, world: World) -> None:
        """An alias nobody holds is 550 5.1.1, with no hint about which aliases exist."""
        async with Client(world.port) as c:
            await c.mail(SELLER)
            answer = await c.rcpt("nosuchalias23456789abcd@relay.example")
        same(answer, replies.S550_UNKNOWN_ALIAS)

    async def test_second_alias_in_one_transaction(self, world: World) -> None:
        """A second alias is deferred with 452 4.5.3; the first stays accepted."""
        async with Client(world.port) as c:
            await c.mail(SELLER)
            same(await c.rcpt(world.aliases.buyer_alias), replies.S250_RCPT_OK)
            same(await c.rcpt(world.aliases.seller_alias), replies.S452_ONE_ALIAS)
            same(await c.rcpt(world.aliases.buyer_alias.upper()), replies.S250_RCPT_OK)
            answer = await c.data(compose(SELLER, world.aliases.buyer_alias))
        assert answer.code == 250
        (delivered,) = await world.upstream.handler.wait_for(1)
        assert delivered.rcpt_tos == [BUYER]

    async def test_postmaster_reaches_the_admin(self, world: World) -> None:
        """postmaster@ and abuse@ accept mail from anyone and deliver it to admin.address."""
        async with Client(world.port) as c:
            for n, role in enumerate(("postmaster", "abuse"), 1):
                message = compose("stranger@elsewhere.example", f"{role}@relay.example")
                answer = await c.send("stranger@elsewhere.example", f"{role}@relay.example",
                                      message)
                assert answer.code == 250
                received = await world.upstream.handler.wait_for(n)
                assert received[-1].rcpt_tos == ["ops@marketplace.example"]
                assert received[-1].data.endswith(message)


class TestSenders:
    async def test_unauthorised_seller_address(self, world: World) -> None:
        """To a buyer alias, an address the seller has not authorised is refused at RCPT."""
        async with Client(world.port) as c:
            await c.mail("intern@acme-shop.example")
            answer = await c.rcpt(world.aliases.buyer_alias)
        starts(answer, replies.S550_NOT_AUTHORISED)
        assert "not an authorised sending address" in answer.text

    async def test_authorised_extra_address_may_send(self, world: World) -> None:
        async with Client(world.port) as c:
            answer = await c.send(SELLER_STAFF, world.aliases.buyer_alias,
                                  compose(SELLER_STAFF, world.aliases.buyer_alias))
        assert answer.code == 250

    async def test_header_from_must_be_authorised_too(self, world: World) -> None:
        """A right envelope with a forged From header is refused after DATA."""
        async with Client(world.port) as c:
            answer = await c.send(SELLER, world.aliases.buyer_alias,
                                  compose("intern@acme-shop.example", world.aliases.buyer_alias))
        starts(answer, replies.S550_NOT_AUTHORISED)

    async def test_only_the_buyer_may_write_to_the_seller_alias(self, world: World) -> None:
        async with Client(world.port) as c:
            await c.mail("stranger@elsewhere.example")
            answer = await c.rcpt(world.aliases.seller_alias)
        starts(answer, replies.S550_NOT_AUTHORISED)
        assert "reply from the address you used" in answer.text

    async def test_sellers_never_write_to_other_sellers(self, world: World) -> None:
        async with Client(world.port) as c:
            await c.mail(OTHER_SELLER)
            same(await c.rcpt(world.aliases.seller_alias), replies.S550_SELLER_TO_SELLER)

    async def test_null_sender_to_an_alias(self, world: World) -> None:
        async with Client(world.port) as c:
            await c.command("MAIL", "FROM:<>")
            same(await c.rcpt(world.aliases.buyer_alias), replies.S550_NULL_SENDER)

    async def test_revoked_address_is_refused_at_once(self, world: World) -> None:
        """A change in the store reaches the running relay without a restart."""
        await world.relay.store.directory.revoke("s1", SELLER_STAFF)
        async with Client(world.port) as c:
            await c.mail(SELLER_STAFF)
            starts(await c.rcpt(world.aliases.buyer_alias), replies.S550_NOT_AUTHORISED)


class TestMessageChecks:
    async def test_oversize_announced_with_size(self, world: World) -> None:
        """A SIZE= larger than server.max_message_size is refused at MAIL with 552 5.3.4."""
        limit = world.relay.settings.server.max_message_size
        async with Client(world.port) as c:
            same(await c.command("MAIL", f"FROM:<{SELLER}>", f"SIZE={limit + 1}"),
                 replies.S552_TOO_BIG)

    async def test_oversize_data(self, world: World) -> None:
        limit = world.relay.settings.server.max_message_size
        body = ("x" * 900 + "\n") * (limit // 900 + 2)
        async with Client(world.port) as c:
            answer = await c.send(SELLER, world.aliases.buyer_alias,
                                  compose(SELLER, world.aliases.buyer_alias, body=body))
        same(answer, replies.S552_TOO_BIG)

    async def test_too_many_hops(self, world: World) -> None:
        hops = world.relay.settings.server.max_hops + 1
        received = "".join(f"Received: from hop{i}.example by x; Tue, 1 Dec 2026\r\n"
                           for i in range(hops))
        message = received.encode() + compose(SELLER, world.aliases.buyer_alias)
        async with Client(world.port) as c:
            same(await c.send(SELLER, world.aliases.buyer_alias, message), replies.S554_LOOP)

    async def test_internal_error_is_temporary_and_silent(self, world: World) -> None:
        """A failing store answers 451 4.3.0 without internals, and nothing is delivered."""
        database = world.relay.store.database
        await database.run_connection(lambda conn: conn.exec_driver_sql("DROP TABLE queue"))
        try:
            async with Client(world.port) as c:
                answer = await c.send(SELLER, world.aliases.buyer_alias,
                                      compose(SELLER, world.aliases.buyer_alias))
            same(answer, replies.S451_INTERNAL)
            await asyncio.sleep(0.2)
            assert world.upstream.handler.messages == []
        finally:
            await database.run_connection(Base.metadata.create_all)
