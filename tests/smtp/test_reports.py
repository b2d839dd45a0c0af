"""`relay message report`: the CLI records it, the running relay delivers the admin's notice."""

from __future__ import annotations

import asyncio
import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from tests.smtp.cli import cli_config, run_relay
from tests.smtp.conftest import BUYER, SELLER, Client, World, compose
from tests.smtp.test_cases import _row
from tests.smtp.upstream import Received
from tests.unit.cli.runner import one_line_error

ADMIN = "ops@marketplace.example"


pytestmark = pytest.mark.usefixtures("quiet_relay_logs")


def _config(tmp_path: Path, world: World) -> Path:
    """The CLI's relay.toml, with the same admin address as the relay's."""
    return cli_config(tmp_path, world, f"[admin]\naddress = {json.dumps(ADMIN)}\n")



async def _buyer_writes(world: World, message_id: str, body: str = "Hello there.\n") -> str:
    """A buyer message over SMTP, delivered to the seller; its relay id."""
    alias = world.aliases.seller_alias
    async with Client(world.port) as client:
        answer = await client.send(BUYER, alias, compose(BUYER, alias, message_id=message_id,
                                                          body=body))
    assert answer.code == 250, answer
    return str((await _row(world, message_id))["id"])


def _parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default)
    assert isinstance(message, EmailMessage)
    return message


async def _notice(world: World, count: int) -> Received:
    """The `count`th message the upstream got, checked to be a notice to the admin."""
    got = (await world.upstream.handler.wait_for(count, seconds=20))[count - 1]
    assert (got.mail_from, got.rcpt_tos) == ("<>", [ADMIN])  # the null sender
    return got


class TestReport:
    async def test_the_admin_gets_the_message_as_it_arrived_and_reported_lists_it(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        reported = await _buyer_writes(world, "<q1@mailbox.example>",
                                       "Grüße. Pay me at https://evil.example/pay please.\n")
        other = await _buyer_writes(world, "<q2@mailbox.example>")
        await world.upstream.handler.wait_for(2, seconds=15)  # both delivered to the seller
        config = _config(tmp_path, world)
        result = await run_relay(capsys, config, "message", "report", reported,
                                 "--reason", "asks to pay off the platform", "--json")
        assert (result.status, result.err) == (0, "")
        report = json.loads(result.out)
        assert (report["message"], report["reporter"], report["reason"]) == (
            reported, "cli", "asks to pay off the platform")
        assert report["report"]
        assert report["notice"]

        got = await _notice(world, 3)
        notice = _parsed(got.data)
        assert notice["From"].addresses[0].addr_spec == "mailer-daemon@relay.example"
        assert notice["To"] == ADMIN
        assert notice["Subject"] == f"Reported message {reported}"
        assert notice["Message-ID"] == f"<{report['notice']}@relay.example>"
        assert notice["Auto-Submitted"] == "auto-generated"
        text_part, attached = notice.iter_parts()
        text = text_part.get_content()
        for expected in (reported, "asks to pay off the platform", "buyer b1", "seller s1",
                         world.aliases.buyer_alias, world.aliases.seller_alias,
                         report["report"]):
            assert expected in text
        assert attached.get_content_type() == "message/rfc822"
        archived = (await world.relay.store.messages.archived(reported))["received"]
        assert archived.count(b"\r\n") > 5
        assert b"\r\n" + archived + b"\r\n--" in got.data  # byte for byte, as it arrived
        payload = attached.get_payload()
        assert isinstance(payload, list)
        (inner,) = payload
        assert isinstance(inner, EmailMessage)
        assert inner.as_bytes() == _parsed(archived).as_bytes()
        assert inner["From"] == f"Someone <{BUYER}>"
        assert SELLER.encode() not in archived  # the received form: buyer's real address only

        listed = await run_relay(capsys, config, "message", "list", "--reported", "--json")
        assert [m["id"] for m in json.loads(listed.out)] == [reported]
        everything = await run_relay(capsys, config, "message", "list", "--all", "--json")
        assert {m["id"] for m in json.loads(everything.out)} == {reported, other}
        # The notice is no message between the parties: the log does not show it.
        assert report["notice"] not in everything.out

    async def test_reported_twice_and_combined_with_filters_and_paging(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        first = await _buyer_writes(world, "<r1@mailbox.example>")
        second = await _buyer_writes(world, "<r2@mailbox.example>")
        await _buyer_writes(world, "<r3@mailbox.example>")
        config = _config(tmp_path, world)
        notices = set()
        for message, reason in ((first, "spam"), (first, "still spam"), (second, "rude")):
            result = await run_relay(capsys, config, "message", "report", message,
                                     "--reason", reason, "--json")
            assert result.status == 0, result
            notices.add(json.loads(result.out)["notice"])
        assert len(notices) == 3  # one notice per report
        await world.upstream.handler.wait_for(6, seconds=20)
        got = [m for m in world.upstream.handler.messages if m.rcpt_tos == [ADMIN]]
        assert len(got) == 3

        async def ids(*args: str) -> list[str]:
            result = await run_relay(capsys, config, "message", "list", "--reported", *args,
                                     "--json")
            assert result.status == 0, result
            return [m["id"] for m in json.loads(result.out)]

        assert await ids() == [second, first]
        assert await ids("--limit", "1") == [second]
        assert await ids("--limit", "1", "--before", second) == [first]
        assert await ids("--limit", "1", "--before", first) == []
        assert await ids("--seller", "s1", "--buyer", "b1") == [second, first]
        assert await ids("--seller", "s2") == []

    async def test_a_report_while_the_upstream_is_down_is_delivered_once_it_is_back(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        reported = await _buyer_writes(world, "<d1@mailbox.example>")
        await world.upstream.handler.wait_for(1, seconds=15)
        await world.upstream.stop()
        result = await run_relay(capsys, _config(tmp_path, world), "message", "report", reported,
                                 "--reason", "threatening", "--json")
        assert result.status == 0, result
        notice_id = json.loads(result.out)["notice"]
        for _ in range(200):  # the workers try, fail, and keep it queued
            queued = {item.message_id: item for item in await world.relay.store.queue.items()}
            if notice_id in queued and queued[notice_id].last_error:
                break
            await asyncio.sleep(0.05)
        assert queued[notice_id].recipient == ADMIN
        assert "upstream unavailable" in (queued[notice_id].last_error or "")
        assert len(world.upstream.handler.messages) == 1
        await world.upstream.start()
        got = await _notice(world, 2)
        assert _parsed(got.data)["Subject"] == f"Reported message {reported}"
        for _ in range(100):
            if not await world.relay.store.queue.items():
                break
            await asyncio.sleep(0.05)
        assert await world.relay.store.queue.items() == []

    @pytest.mark.parametrize(("args", "status", "words"), [
        (("message", "report", "nosuchmessage", "--reason", "spam"), 4,
         "no message 'nosuchmessage'"),
        (("message", "report", "MSG", "--reason", ""), 2, "must not be empty"),
        (("message", "report", "MSG", "--reason", "   "), 2, "must not be empty"),
        (("message", "report", "MSG"), 2, "--reason"),
        (("message", "report", "MSG", "--reason", "a\x00b"), 2, "control characters"),
        (("message", "report", "MSG", "--reason", "x" * 2001), 2, "longer than 2000"),
        (("message", "list", "--reported", "--seller", "nobody"), 4, "no seller 'nobody'"),
    ])
    async def test_bad_input_is_one_line_and_records_nothing(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        args: tuple[str, ...], status: int, words: str,
    ) -> None:
        message = await _buyer_writes(world, "<b1@mailbox.example>")
        args = tuple(message if a == "MSG" else a for a in args)
        config = _config(tmp_path, world)
        for json_flag in ((), ("--json",)):
            line = one_line_error(await run_relay(capsys, config, *args, *json_flag), status)
            assert words in line
        listed = await run_relay(capsys, config, "message", "list", "--reported", "--json")
        assert json.loads(listed.out) == []
        queued = await world.relay.store.queue.items()
        assert all(item.recipient != ADMIN for item in queued)
