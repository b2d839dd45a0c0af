"""`relay archive export` after real traffic both ways: an mbox that mail clients open, by alias."""

from __future__ import annotations

import asyncio
import fcntl
import json
import mailbox
import os
import pty
import struct
import sys
import termios
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from tests.smtp.cli import cli_config, run_relay
from tests.smtp.conftest import BUYER, OTHER_SELLER, SELLER, SELLER_STAFF, Client, World, compose
from tests.smtp.test_cases import _row
from tests.unit.cli.runner import one_line_error

REAL = (BUYER, SELLER, SELLER_STAFF, OTHER_SELLER)


pytestmark = pytest.mark.usefixtures("quiet_relay_logs")



async def _process(config: Path, *args: str, stderr: int | None = None) -> tuple[int, bytes,
                                                                                   bytes]:
    """`relay` as its own process, for what it writes to stdout and stderr as bytes."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "--config", str(config), *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if stderr is None else stderr)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out, err or b""


async def _write(world: World, sender: str, alias: str, name: str, body: str,
                 extra: str = "", reply_to: str | None = None) -> str:
    """Send one message over SMTP; its relay-issued Message-ID (what the recipient saw)."""
    if reply_to is not None:
        parent = (await _row(world, reply_to))["relay_message_id"]
        extra += f"In-Reply-To: {parent}\r\nReferences: {parent}\r\n"
    message_id = f"<{name}@{sender.split('@')[1]}>"
    async with Client(world.port) as client:
        answer = await client.send(sender, alias, compose(
            sender, alias, subject=name, body=body, extra=extra, message_id=message_id))
    assert answer.code == 250, answer
    return str((await _row(world, message_id))["relay_message_id"])


async def _traffic(world: World) -> tuple[list[str], list[str], str]:
    """A dispute both ways, an auto-reply, mail to another seller, then a case.

    The relay-issued ids of the pair's delivered mail in order, of the case's, and the case.
    """
    to_seller, to_buyer = world.aliases.seller_alias, world.aliases.buyer_alias
    store = world.relay.store
    other = await store.directory.aliases("b1", "s2")
    early = [
        await _write(world, BUYER, to_seller, "q1",
                     "Where is my parcel?\nFrom what I see it is late.\n"),
        await _write(world, SELLER, to_buyer, "r1", "It left on Monday.\n", reply_to="<q1@"
                     "mailbox.example>"),
    ]
    await _write(world, BUYER, to_seller, "away", "I am away.\n",
                 extra="Auto-Submitted: auto-replied\r\n")  # consumed: never delivered
    early.append(await _write(world, SELLER_STAFF, to_buyer, "r2", "Tracking follows.\n"))
    await _write(world, BUYER, other.seller_alias, "elsewhere", "Another shop.\n")
    case = (await store.cases.open("b1", "s1", "o1", "Parcel")).id
    in_case = [
        await _write(world, BUYER, to_seller, "q2", "I open a dispute.\n"),
        await _write(world, SELLER, to_buyer, "r3", "Refund sent.\n", reply_to="<q2@"
                     "mailbox.example>"),
    ]
    return early + in_case, in_case, case


def _read(path: Path) -> list[mailbox.mboxMessage]:
    box = mailbox.mbox(path, create=False)
    try:
        return list(box)
    finally:
        box.close()


def _named(directory: Path, part: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if part in p.name)


def _seen(message: mailbox.mboxMessage) -> str:
    """Everything a reader of the message sees: decoded headers and decoded text parts."""
    seen = [str(make_header(decode_header(str(v)))) for part in message.walk()
            for v in part.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            seen.append(payload.decode(part.get_content_charset() or "ascii"))
    return "\n".join(seen)


class TestExport:
    async def test_every_message_of_the_dispute_in_order_with_aliases_only(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        ids, _, _ = await _traffic(world)
        config = cli_config(tmp_path, world)
        target = tmp_path / "dispute.mbox"
        result = await run_relay(capsys, config, "archive", "export", "--buyer", "b1",
                                 "--seller", "s1", "--output", str(target))
        assert (result.status, result.err) == (0, "")
        assert result.out == (f"5 messages written to {target} "
                              "(1 kept without delivery left out)\n")
        found = _read(target)
        assert [m["Message-ID"] for m in found] == ids
        buyer, seller = world.aliases.buyer_alias, world.aliases.seller_alias
        senders = [buyer, seller, seller, buyer, seller]
        assert [m.get_from().split()[0] for m in found] == senders
        assert [m["To"] for m in found] == [seller if s == buyer else buyer for s in senders]
        for message, sender in zip(found, senders, strict=True):
            assert f"<{sender}>" in message["From"]
        assert [m["Subject"] for m in found] == ["q1", "r1", "r2", "q2", "r3"]
        assert "It left on Monday." in _seen(found[1])
        assert "\n>From what I see it is late." in found[0].get_payload()  # mboxo quoting
        raw = target.read_bytes().lower()
        for real in REAL:
            assert real.lower().encode() not in raw
            for message in found:
                assert real.lower() not in _seen(message).lower()

    async def test_the_case_alone_on_stdout_with_the_summary_on_stderr(
        self, world: World, tmp_path: Path
    ) -> None:
        _, in_case, case = await _traffic(world)
        config = cli_config(tmp_path, world)
        status, out, err = await _process(config, "archive", "export", "--buyer", "b1",
                                          "--seller", "s1", "--case", case, "--json")
        assert status == 0, err
        assert json.loads(err) == {"messages": 2, "not_delivered": 0, "output": "-"}
        (tmp_path / "stdout.mbox").write_bytes(out)
        found = _read(tmp_path / "stdout.mbox")
        assert [m["Message-ID"] for m in found] == in_case
        for real in REAL:
            assert real.lower().encode() not in out.lower()

    async def test_json_to_a_file_prints_only_the_summary(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        await _traffic(world)
        target = tmp_path / "dispute.mbox"
        result = await run_relay(capsys, cli_config(tmp_path, world), "archive", "export",
                                 "--buyer", "b1", "--seller", "s1", "--output", str(target),
                                 "--json")
        assert (result.status, result.err) == (0, "")
        assert result.json() == {"messages": 5, "not_delivered": 1, "output": str(target)}
        assert len(_read(target)) == 5
        assert _named(tmp_path, "dispute") == ["dispute.mbox"]  # no partial file left

    async def test_a_progress_bar_on_a_terminal_only_and_never_under_json(
        self, world: World, tmp_path: Path
    ) -> None:
        await _traffic(world)
        config = cli_config(tmp_path, world)
        args = ("archive", "export", "--buyer", "b1", "--seller", "s1", "--output",
                str(tmp_path / "d.mbox"))

        async def on_a_terminal(*extra: str) -> str:
            leader, follower = pty.openpty()
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
            try:
                status, _, _ = await _process(config, *args, *extra, stderr=follower)
                os.close(follower)
                follower = -1
                assert status == 0
                drawn = b""
                while True:
                    try:
                        chunk = os.read(leader, 4096)
                    except OSError:  # EIO: the terminal is closed and drained
                        break
                    if not chunk:
                        break
                    drawn += chunk
                return drawn.decode(errors="replace")
            finally:
                os.close(leader)
                if follower != -1:
                    os.close(follower)

        drawn = await on_a_terminal()
        assert "export:" in drawn
        assert "/5 [" in drawn
        assert await on_a_terminal("--json") == ""
        _, _, err = await _process(config, *args)  # stderr a pipe: no bar
        assert err == b""

    async def test_unknown_parties_and_cases_are_one_line_exit_4(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        await _traffic(world)
        store = world.relay.store
        await store.directory.put_order("o2", "b1", "s2")
        other = (await store.cases.open("b1", "s2", "o2", None)).id
        config = cli_config(tmp_path, world)
        target = tmp_path / "never.mbox"
        for args, message in (
            (("--buyer", "b9", "--seller", "s1"), "no buyer 'b9'"),
            (("--buyer", "b1", "--seller", "s9"), "no seller 's9'"),
            (("--buyer", "b1", "--seller", "s1", "--case", "999"), "no case '999'"),
            (("--buyer", "b1", "--seller", "s1", "--case", other),
             f"case {other} is not between buyer 'b1' and seller 's1'"),
        ):
            for json_flag in ((), ("--json",)):
                result = await run_relay(capsys, config, "archive", "export", *args,
                                         "--output", str(target), *json_flag)
                assert one_line_error(result, 4) == f"relay: error: {message}"
        assert _named(tmp_path, "never") == []
        result = await run_relay(capsys, config, "archive", "export", "--buyer", "b1")
        assert "--seller" in one_line_error(result, 2)
