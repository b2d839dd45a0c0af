"""Refused messages in the message log: status refused, the reply and the rule, nothing of
the content; over SMTP and through `relay send`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text

from relay.errors import NotFound
from relay.model import MessageRecord
from relay.operations import Context
from relay.operations import messages as ops
from tests.smtp.cli import run_relay
from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory, compose
from tests.smtp.test_attachments import File, mail
from tests.smtp.test_send import SHIPPING_VARS, _config
from tests.unit.cli.runner import one_line_error

pytestmark = pytest.mark.usefixtures("quiet_relay_logs")

MARKER = "xylophone-7f3a"  # in the refused message's subject and body only


def _ctx(world: World) -> Context:
    return Context(world.relay.store, world.relay.settings)


async def _refused(world: World, **kwargs: Any) -> list[MessageRecord]:
    found = await ops.list_messages(_ctx(world), everything=True, **kwargs)
    return [m for m in found if m.status == "refused"]


async def _sql(world: World, query: str, **params: Any) -> list[dict[str, Any]]:
    def read(connection: Connection) -> list[dict[str, Any]]:
        return [dict(row._mapping) for row in connection.execute(text(query), params)]

    return await world.relay.store.database.run_connection(read)


async def _nothing_kept(world: World, message_id: str) -> None:
    """No archive record or queue entry of the message, and nothing of its content anywhere."""
    assert await _sql(world, "SELECT id FROM archive WHERE message_id = :m", m=message_id) == []
    assert await _sql(world, "SELECT id FROM queue WHERE message_id = :m", m=message_id) == []
    [row] = await _sql(world, "SELECT subject, original_message_id, relay_message_id, "
                              "thread_id, parent_id FROM messages WHERE id = :m", m=message_id)
    assert set(row.values()) == {None}
    for form in await _sql(world, "SELECT data FROM archive"):
        assert MARKER.encode() not in bytes(form["data"])
    with pytest.raises(NotFound, match="refused"):
        await ops.received_message(_ctx(world), message_id)


async def _quota_used(world: World) -> int:
    rows = await _sql(world, "SELECT used FROM quota_usage WHERE seller_id = 's1'")
    return sum(int(r["used"]) for r in rows)


class TestOverSmtp:
    async def test_a_refused_seller_message_has_its_reply_and_rule_and_no_content(
        self, make_world: WorldFactory
    ) -> None:
        world = await make_world(policy={"quota_base": 1, "quota_per_order": 0})
        alias = world.aliases.buyer_alias
        async with Client(world.port) as client:
            refused = await client.send(SELLER, alias, compose(
                SELLER, alias, subject=f"Order {MARKER}",
                body=f"{MARKER}: see https://elsewhere.example/x\n"))
        assert refused.code == 550
        [logged] = await _refused(world, seller="s1")
        assert (logged.direction, logged.buyer, logged.seller, logged.subject,
                logged.response_needed) == ("seller-to-buyer", "b1", "s1", None, False)
        view = await ops.show_message(_ctx(world), logged.id)
        assert view.rule == "offsite-link"
        assert view.reply is not None
        assert (view.reply.code, view.reply.enhanced) == (550, "5.7.1")
        assert view.reply.text in refused.text
        assert (view.headers, view.text) == ([], None)
        await _nothing_kept(world, logged.id)
        # The refusal gave its quota back: the one message of the day still passes.
        assert await _quota_used(world) == 0
        async with Client(world.port) as client:
            assert (await client.send(SELLER, alias, compose(SELLER, alias))).code == 250
        assert await _quota_used(world) == 1

    async def test_a_refused_buyer_message_needs_no_response_and_counts_nowhere(
        self, world: World
    ) -> None:
        alias = world.aliases.seller_alias
        program = File("tool.exe", b"MZ\x90\x00" + b"\x00" * 64)
        async with Client(world.port) as client:
            assert (await client.send(BUYER, alias, mail(BUYER, alias, program,
                                                         body=MARKER))).code == 550
        [logged] = await _refused(world, buyer="b1")
        assert logged.direction == "buyer-to-seller"
        assert (await ops.show_message(_ctx(world), logged.id)).rule == (
            "attachment-not-allowed")
        await _nothing_kept(world, logged.id)
        assert await ops.list_messages(_ctx(world)) == []  # awaits no response
        stats = await world.relay.store.messages.response_time("s1", 30, datetime.now(UTC))
        assert (stats.messages, stats.pending) == (0, 0)
        # An accepted buyer message is counted: the figures above are not empty by accident.
        async with Client(world.port) as client:
            assert (await client.send(BUYER, alias, compose(BUYER, alias))).code == 250
        stats = await world.relay.store.messages.response_time("s1", 30, datetime.now(UTC))
        assert (stats.messages, stats.pending) == (0, 1)

    async def test_a_deferral_is_not_logged_the_server_retries(
        self, make_world: WorldFactory
    ) -> None:
        world = await make_world(policy={"quota_base": 0, "quota_per_order": 0})
        alias = world.aliases.buyer_alias
        async with Client(world.port) as client:
            assert (await client.send(SELLER, alias, compose(SELLER, alias))).code == 450
        assert await _sql(world, "SELECT id FROM messages") == []


class TestThroughSend:
    async def test_a_refused_template_is_in_the_log_for_the_cli(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        await world.relay.store.directory.set_opt_out("b1", True)
        await world.relay.store.directory.set_order_status("o1", "shipped")
        config = _config(tmp_path, world)
        result = await run_relay(capsys, config, "send", "--seller", "s1", "--order", "o1",
                                 "--template", "shipping-confirmation", *SHIPPING_VARS, "--json")
        one_line_error(result, 3)
        listed = await run_relay(capsys, config, "message", "list", "--seller", "s1", "--all",
                                 "--json")
        [row] = json.loads(listed.out)
        assert (row["status"], row["direction"], row["response_needed"]) == (
            "refused", "seller-to-buyer", False)
        shown = await run_relay(capsys, config, "message", "show", row["id"], "--json")
        view = json.loads(shown.out)
        assert view["rule"] == "opted-out"
        assert view["reply"]["code"] == 550
        assert view["reply"]["enhanced"] == "5.7.1"
        assert "opted out" in view["reply"]["text"]
        text_view = await run_relay(capsys, config, "message", "show", row["id"])
        assert "rule: opted-out" in text_view.out
        assert "reply: 550 5.7.1 The buyer has opted out" in text_view.out
        await _nothing_kept(world, row["id"])

    async def test_over_quota_is_logged_with_its_temporary_reply(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Nothing retries a submission: its 450 is final, so it is on record."""
        config = _config(tmp_path, world,
                         extra="[policy]\nquota_base = 0\nquota_per_order = 0\n")
        result = await run_relay(capsys, config, "send", "--seller", "s1", "--order", "o1",
                                 "--template", "delivery-scheduling", "--var",
                                 "proposed_date=Friday")
        one_line_error(result, 3)
        [logged] = await _refused(world, seller="s1")
        view = await ops.show_message(_ctx(world), logged.id)
        assert view.rule == "quota-exceeded"
        assert view.reply is not None
        assert (view.reply.code, view.reply.enhanced) == (450, "4.7.1")
