"""A message submitted without SMTP passes the very steps SMTP mail does (relay.intake)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Connection, text

from relay import replies
from relay.addresses import message_ids
from relay.replies import Refused
from tests.smtp.conftest import BUYER, SELLER, Client, World, compose
from tests.smtp.test_round_trip import parsed

# What differs between two deliveries of the same message: the ids and the trace line.
_PER_MESSAGE = re.compile(rb"(Message-ID: <[0-9a-f]{32}@|ESMTP id [0-9a-f]{32}; )[^\r\n]*")


def _same_apart_from_ids(a: bytes, b: bytes) -> bool:
    return _PER_MESSAGE.sub(b"", a) == _PER_MESSAGE.sub(b"", b)


class TestSubmit:
    async def test_archived_queued_and_rewritten_as_smtp_mail(self, world: World) -> None:
        """The same message, by SMTP and by submit, is delivered byte for byte alike."""
        alias = world.aliases.buyer_alias
        message = compose(SELLER, alias, body=f"Write to {SELLER}\n",
                          message_id="<m1@acme-shop.example>")
        async with Client(world.port) as c:
            assert (await c.send(SELLER, alias, message)).code == 250
        outcome = await world.relay.intake.submit(alias, message, party="s1", sender=SELLER,
                                                  origin="test")
        assert outcome.queued
        by_smtp, submitted = await world.upstream.handler.wait_for(2)
        assert submitted.rcpt_tos == by_smtp.rcpt_tos
        assert _same_apart_from_ids(by_smtp.data, submitted.data)
        archived = await world.relay.store.messages.archived(outcome.id)
        assert archived["received"] == message
        assert archived["delivered"] == submitted.data

    async def test_refused_by_the_same_step(self, world: World) -> None:
        """Too many Received: lines are a loop, however the message came in."""
        hops = world.relay.settings.server.max_hops + 1
        looped = b"Received: from a.example by b.example; Tue, 1 Dec 2026\r\n" * hops
        message = looped + compose(SELLER, world.aliases.buyer_alias)
        with pytest.raises(Refused) as refused:
            await world.relay.intake.submit(world.aliases.buyer_alias, message, party="s1",
                                            sender=SELLER, origin="test")
        assert refused.value.reply == replies.S554_LOOP
        assert await world.relay.store.queue.items() == []

    async def test_an_auto_reply_is_kept_not_queued(self, world: World) -> None:
        message = compose(SELLER, world.aliases.buyer_alias,
                          extra="Auto-Submitted: auto-replied\r\n")
        outcome = await world.relay.intake.submit(world.aliases.buyer_alias, message,
                                                  party="s1", sender=SELLER, origin="test")
        assert not outcome.queued
        assert (await world.relay.store.messages.archived(outcome.id))["received"] == message
        assert await world.relay.store.queue.items() == []

    async def test_an_auto_reply_records_what_it_answers(self, world: World) -> None:
        """Threading runs before the automatic check, so a kept reply still has its parent."""
        first = await world.relay.intake.submit(
            world.aliases.buyer_alias, compose(SELLER, world.aliases.buyer_alias), party="s1",
            sender=SELLER, origin="test")
        (delivered,) = await world.upstream.handler.wait_for(1)
        relay_id = message_ids(parsed(delivered.data)["Message-ID"])[0]
        reply = compose(BUYER, world.aliases.seller_alias,
                        extra=f"In-Reply-To: {relay_id}\r\nAuto-Submitted: auto-replied\r\n")
        kept = await world.relay.intake.submit(world.aliases.seller_alias, reply, party="b1",
                                               sender=BUYER, origin="test")
        assert not kept.queued

        def parent(connection: Connection) -> object:
            query = text("SELECT parent_id FROM messages WHERE id = :id")
            return connection.execute(query, {"id": kept.id}).scalar_one()

        assert await world.relay.store.database.run_connection(parent) == first.id

    @pytest.mark.parametrize(("party", "sender"), [("s2", SELLER), ("s1", "x@elsewhere.example"),
                                                   ("b1", SELLER)])
    async def test_only_the_writing_party(self, world: World, party: str, sender: str) -> None:
        """The party must be the one who writes on that alias, from an address of its own."""
        with pytest.raises(Refused) as refused:
            await world.relay.intake.submit(world.aliases.buyer_alias,
                                            compose(SELLER, world.aliases.buyer_alias),
                                            party=party, sender=sender, origin="test")
        assert refused.value.reply == replies.S550_NOT_AUTHORISED
