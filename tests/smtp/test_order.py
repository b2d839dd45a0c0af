"""The order a message names, over SMTP and through `relay send`: a template's order, one of
the pair's orders in the subject, or the order of the message it replies to; else none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relay.operations import Context
from relay.operations import messages as ops
from tests.smtp.cli import run_relay
from tests.smtp.conftest import BUYER, SELLER, Client, World, compose
from tests.smtp.test_refused import _sql
from tests.smtp.test_send import _config

pytestmark = pytest.mark.usefixtures("quiet_relay_logs")


@pytest.fixture
async def orders(world: World) -> World:
    """o1 and o2 of the pair b1-s1; o9 of another pair (b2-s1)."""
    directory = world.relay.store.directory
    await directory.put_order("o2", "b1", "s1")
    await directory.put_buyer("b2", "ann@mailbox.example", "Ann")
    await directory.put_order("o9", "b2", "s1")
    return world


async def _write(world: World, *, seller: bool, subject: str, message_id: str,
                 reply_to: str | None = None, body: str = "Hello there.\n") -> int:
    """A message from one party, optionally replying to the message with id `reply_to`."""
    sender, alias = ((SELLER, world.aliases.buyer_alias) if seller
                     else (BUYER, world.aliases.seller_alias))
    extra = ""
    if reply_to is not None:
        [row] = await _sql(world, "SELECT relay_message_id FROM messages WHERE id = :m",
                           m=reply_to)
        extra = f"In-Reply-To: {row['relay_message_id']}\r\n"
    async with Client(world.port) as client:
        answer = await client.send(sender, alias, compose(
            sender, alias, subject=subject, message_id=message_id, extra=extra, body=body))
    return answer.code


async def _id(world: World, message_id: str) -> str:
    [row] = await _sql(world, "SELECT id FROM messages WHERE original_message_id = :m",
                       m=message_id)
    return str(row["id"])


async def _orders(world: World) -> dict[str, str | None]:
    found = await ops.list_messages(Context(world.relay.store, world.relay.settings),
                                    everything=True)
    return {m.id: m.order for m in found}


class TestOverSmtp:
    async def test_an_order_of_the_pair_named_in_the_subject(self, orders: World) -> None:
        world = orders
        cases = {"<a@acme-shop.example>": ("Your order o2 has shipped", "o2"),
                 "<b@acme-shop.example>": ("About o9", None),  # another pair's order
                 "<c@acme-shop.example>": ("Orders o10 and O1", None),  # no whole token
                 "<d@acme-shop.example>": ("Hello", None)}
        for message_id, (subject, _) in cases.items():
            assert await _write(world, seller=True, subject=subject,
                                message_id=message_id) == 250
        listed = await _orders(world)
        assert {m: listed[await _id(world, m)] for m in cases} == {
            m: order for m, (_, order) in cases.items()}

    async def test_a_reply_inherits_its_parents_order_unless_its_subject_names_one(
        self, orders: World
    ) -> None:
        world = orders
        assert await _write(world, seller=True, subject="Your order o1",
                            message_id="<s1@acme-shop.example>") == 250
        parent = await _id(world, "<s1@acme-shop.example>")
        assert await _write(world, seller=False, subject="Thanks!", reply_to=parent,
                            message_id="<b1@mailbox.example>") == 250
        thanks = await _id(world, "<b1@mailbox.example>")
        assert await _write(world, seller=True, subject="You are welcome", reply_to=thanks,
                            message_id="<s2@acme-shop.example>") == 250
        assert await _write(world, seller=False, subject="And my order o2?", reply_to=parent,
                            message_id="<b2@mailbox.example>") == 250
        listed = await _orders(world)
        assert [listed[await _id(world, m)] for m in (
            "<s1@acme-shop.example>", "<b1@mailbox.example>", "<s2@acme-shop.example>",
            "<b2@mailbox.example>")] == ["o1", "o1", "o1", "o2"]

    async def test_a_refused_message_names_its_order(self, orders: World) -> None:
        assert await _write(orders, seller=True, subject="Order o2",
                            message_id="<r@acme-shop.example>",
                            body="see https://elsewhere.example/\n") == 550
        [row] = await _sql(orders, "SELECT status, order_id FROM messages")
        assert (row["status"], row["order_id"]) == ("refused", "o2")


class TestThroughSend:
    async def test_a_template_names_its_order_and_a_reply_inherits_it(
        self, orders: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The order the template was sent for, even when the subject names another."""
        world = orders
        directory = tmp_path / "templates"
        directory.mkdir()
        (directory / "question.en.toml").write_text(
            'reason = "delivery-scheduling"\nsubject = "A question about {topic}"\n'
            'body = "Hello {buyer_name}"\n', encoding="utf-8")
        config = _config(tmp_path, world, templates=directory)
        sent: dict[str, Any] = {}
        for order, topic in (("o2", "o1"), ("o1", "your parcel")):
            result = await run_relay(capsys, config, "send", "--seller", "s1", "--order", order,
                                     "--template", "question", "--var", f"topic={topic}",
                                     "--json")
            assert result.status == 0, result
            sent[order] = json.loads(result.out)["message"]
        assert await _write(world, seller=False, subject="Re: Tuesday is fine",
                            reply_to=sent["o2"], message_id="<b1@mailbox.example>") == 250
        listed = await run_relay(capsys, config, "message", "list", "--all", "--json")
        by_id = {m["id"]: m["order"] for m in json.loads(listed.out)}
        reply = await _id(world, "<b1@mailbox.example>")
        assert (by_id[sent["o2"]], by_id[sent["o1"]], by_id[reply]) == ("o2", "o1", "o2")
