"""The message log over SMTP: statuses as delivery settles them, threads from real replies."""

from __future__ import annotations

import asyncio

import pytest

from relay.model import MessageRecord
from relay.operations import Context
from relay.operations import messages as ops
from tests.smtp.conftest import BUYER, SELLER, SELLER_STAFF, World
from tests.smtp.test_cases import Party, _row


@pytest.fixture
def seller(world: World) -> Party:
    return Party(world, SELLER, world.aliases.buyer_alias)


@pytest.fixture
def buyer(world: World) -> Party:
    return Party(world, BUYER, world.aliases.seller_alias)


def _ctx(world: World) -> Context:
    return Context(world.relay.store, world.relay.settings)


async def _listed(world: World, **kwargs: object) -> dict[str, MessageRecord]:
    found = await ops.list_messages(_ctx(world), everything=True, **kwargs)  # type: ignore[arg-type]
    return {m.id: m for m in found}


async def _settled(world: World, count: int) -> dict[str, MessageRecord]:
    """The log once `count` messages have left the queue (delivered or bounced)."""
    for _ in range(200):
        listed = await _listed(world)
        if sum(m.status != "queued" for m in listed.values()) >= count:
            return listed
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled: {listed}")


class TestOverSmtp:
    async def test_a_seller_reply_answers_the_thread_and_statuses_are_delivered(
        self, world: World, seller: Party, buyer: Party
    ) -> None:
        assert (await buyer.write("<q1@mailbox.example>")).code == 250
        assert (await buyer.write("<q2@mailbox.example>",
                                  reply_to="<q1@mailbox.example>")).code == 250
        assert (await buyer.write("<other@mailbox.example>")).code == 250
        ids = {name: (await _row(world, f"<{name}@mailbox.example>"))["id"]
               for name in ("q1", "q2", "other")}
        waiting = await ops.list_messages(_ctx(world))
        assert [m.id for m in waiting] == [ids["other"], ids["q2"], ids["q1"]]
        assert (await seller.write("<r@acme-shop.example>",
                                   reply_to="<q2@mailbox.example>")).code == 250
        assert [m.id for m in await ops.list_messages(_ctx(world))] == [ids["other"]]
        listed = await _settled(world, 4)
        assert {m.status for m in listed.values()} == {"delivered"}
        reply = listed[(await _row(world, "<r@acme-shop.example>"))["id"]]
        assert (reply.direction, reply.buyer, reply.seller, reply.response_needed) == (
            "seller-to-buyer", "b1", "s1", False)
        assert [listed[ids[n]].response_needed for n in ("q1", "q2", "other")] == [
            False, False, True]

    async def test_show_names_both_parties_by_alias_and_as_received_keeps_the_original(
        self, world: World, buyer: Party
    ) -> None:
        assert (await buyer.write("<q1@mailbox.example>")).code == 250
        mid = (await _row(world, "<q1@mailbox.example>"))["id"]
        await _settled(world, 1)
        view = await ops.show_message(_ctx(world), mid)
        assert (view.id, view.direction, view.buyer, view.seller, view.status) == (
            mid, "buyer-to-seller", "b1", "s1", "delivered")
        assert (view.sender, view.recipient) == (world.aliases.buyer_alias,
                                                 world.aliases.seller_alias)
        headers = dict(view.headers)
        assert world.aliases.buyer_alias in headers["From"]
        assert headers["To"] == world.aliases.seller_alias
        assert view.text is not None
        assert "Hello there." in view.text
        shown = repr(view).lower()
        for real in (BUYER, SELLER, SELLER_STAFF):
            assert real.lower() not in shown
        original = await ops.received_message(_ctx(world), mid)
        assert BUYER.encode() in original
        assert b"Message-ID: <q1@mailbox.example>" in original
