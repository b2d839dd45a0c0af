"""Type=notify as systemd sees it: READY, the watchdog's pings, RELOADING and STOPPING.

Each test runs `relay serve` as a process with NOTIFY_SOCKET pointed at a socket
the test listens on, as systemd would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from relay.systemd import watchdog_interval
from tests.app.daemon import Daemon, sections_for, upgraded
from tests.smtp.process import free_port, listens, write_config

WATCHDOG_USEC = 300_000  # pings every 0.15 s


@pytest.fixture
async def make_daemon(tmp_path: Path) -> AsyncIterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(env: dict[str, str] | None = None, **changes: dict[str, Any]) -> Daemon:
        sections = sections_for(tmp_path)
        for name, values in changes.items():
            sections[name] = {**sections[name], **values}
        config = write_config(tmp_path / "relay.toml", sections)
        made.append(Daemon(config, sections, env))
        return made[-1]

    yield make
    for daemon in made:
        await daemon.stop()


async def test_ready_only_once_the_port_listens_and_the_store_answers(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon()
    await upgraded(daemon.config)
    await daemon.start(ready=False)
    assert await daemon.state() == "READY=1"
    assert daemon.process is not None
    assert listens(daemon.process.pid, daemon.port), "READY=1 before the listener was up"
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
    assert (await reader.readline()).startswith(b"220 ")
    writer.close()
    await writer.wait_closed()


async def test_no_ready_when_the_store_does_not_answer(make_daemon: Callable[..., Daemon]) -> None:
    nobody = f"postgresql+asyncpg://relay@127.0.0.1:{free_port()}/relay"  # nothing listens
    daemon = make_daemon(store={"url": nobody})
    await daemon.start(ready=False)
    assert await daemon.exited() != 0
    await asyncio.sleep(0.2)
    assert daemon._states.empty(), "told systemd it was ready without a store"
    assert any("cannot reach the store" in line for line in daemon.raw)


async def test_watchdog_pings_come_from_the_event_loop(make_daemon: Callable[..., Daemon]) -> None:
    """Pings arrive while the loop runs and stop while it is blocked.

    The block is one the relay really has: on SIGHUP it reads its configuration
    file synchronously on the loop. Made a FIFO, the file blocks that read until
    the test writes into it, as a hung network mount would. A pinger on a thread
    would ping on through this; the loop's own task cannot.
    """
    daemon = make_daemon(env={"WATCHDOG_USEC": str(WATCHDOG_USEC)})
    await upgraded(daemon.config)
    await daemon.start()
    ready = time.monotonic()
    await asyncio.sleep(1.0)
    assert daemon.pings_between(ready, time.monotonic()) >= 4, "no pings while the loop runs"

    content = daemon.config.read_text()
    daemon.config.unlink()
    os.mkfifo(daemon.config)
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGHUP)
    blocked, state = await daemon.timed_state()
    assert state.startswith("RELOADING=1")
    await asyncio.sleep(1.5)  # ten intervals
    assert daemon.pings_between(blocked, time.monotonic()) == 0, "pinged from a blocked loop"

    await asyncio.to_thread(daemon.config.write_text, content)  # the read completes
    assert await daemon.state() == "READY=1"
    unblocked = time.monotonic()
    await asyncio.sleep(1.0)
    assert daemon.pings_between(unblocked, time.monotonic()) >= 4, "pings did not resume"
    assert not any("watchdog" in line.lower() for line in daemon.raw), "a ping was logged"
    assert await daemon.stop() == 0


async def test_no_pings_when_systemd_watches_another_process(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon(env={"WATCHDOG_USEC": str(WATCHDOG_USEC), "WATCHDOG_PID": "1"})
    await upgraded(daemon.config)
    await daemon.start()
    await asyncio.sleep(1.0)
    assert daemon.pings == []


@pytest.mark.parametrize(("environ", "interval"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
])
def test_the_ping_interval_is_half_of_watchdog_sec(
    environ: dict[str, str], interval: float | None
) -> None:
    assert watchdog_interval(environ) == interval


async def test_sigterm_says_stopping_and_lets_a_transaction_in_progress_finish(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon()
    await upgraded(daemon.config)
    await daemon.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)

    async def say(line: bytes) -> bytes:
        writer.write(line + b"\r\n")
        reply = b""
        while reply[3:4] != b" ":
            reply = await reader.readline()
        return reply

    await reader.readline()
    assert (await say(b"EHLO client.example")).startswith(b"250")
    assert (await say(b"MAIL FROM:<someone@outside.example>")).startswith(b"250")
    assert (await say(b"RCPT TO:<postmaster@relay.example>")).startswith(b"250")
    assert (await say(b"DATA")).startswith(b"354")

    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGTERM)
    assert await daemon.state() == "STOPPING=1"
    for _ in range(200):  # the listener closes: nobody new gets in
        if not listens(daemon.process.pid, daemon.port):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("still listening 10 s after SIGTERM")
    assert daemon.process.returncode is None, "stopped before the transaction finished"
    reply = await say(b"From: someone@outside.example\r\nSubject: hi\r\n\r\nHello.\r\n.")
    assert reply.startswith(b"250"), reply
    assert (await reader.readline()).startswith(b"421 "), "kept the session past its transaction"
    assert await daemon.exited(seconds=10) == 0, "waited for the drain's deadline"
    writer.close()
    await writer.wait_closed()
