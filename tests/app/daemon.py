"""`relay serve` as systemd runs it: a real process, its log on stderr, sd_notify on a socket."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.smtp.process import free_port, write_config


def sections_for(tmp_path: Path, port: int | None = None) -> dict[str, dict[str, Any]]:
    """A relay on loopback with a SQLite store and outbox delivery under `tmp_path`."""
    return {
        "server": {"listen": f"127.0.0.1:{port or free_port()}", "hostname": "mx.relay.example",
                   "max_hops": 50},
        "aliases": {"domain": "relay.example"},
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"},
        "upstream": {"kind": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        "admin": {"address": "ops@marketplace.example"},
        "logging": {"format": "json", "level": "info"},
    }


async def upgraded(config: Path) -> None:
    upgrade = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "--config", str(config), "db", "upgrade",
        stdout=asyncio.subprocess.DEVNULL)
    assert await upgrade.wait() == 0


class Daemon:
    """The process, what it logged (JSON lines parsed) and what it told systemd.

    Watchdog pings are kept apart (`pings`, their arrival times) from the states
    (`state()`), which arrive in order: READY, RELOADING, STOPPING.
    """

    def __init__(self, config: Path, sections: dict[str, dict[str, Any]],
                 env: dict[str, str] | None = None) -> None:
        self.config, self.sections, self.env = config, sections, env or {}
        self.port = int(sections["server"]["listen"].rsplit(":", 1)[1])
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.pings: list[float] = []
        self._states: asyncio.Queue[tuple[float, str]] = asyncio.Queue()
        self._new_line = asyncio.Event()
        self._socket_dir = tempfile.mkdtemp(prefix="relay-notify-")  # AF_UNIX paths are short
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(os.path.join(self._socket_dir, "notify"))
        self.notify.setblocking(False)
        self.process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, ready: bool = True) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay", "--config", str(self.config), "serve",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1",
                 "NOTIFY_SOCKET": self.notify.getsockname(), **self.env},
        )
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._listen())]
        if ready:
            assert await self.state() == "READY=1"

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode().strip()
            self.raw.append(line)
            self.lines.append(json.loads(line) if line.startswith("{") else {"event": line})
            self._new_line.set()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = (await loop.sock_recv(self.notify, 4096)).decode()
            if data == "WATCHDOG=1":
                self.pings.append(time.monotonic())
            else:
                self._states.put_nowait((time.monotonic(), data))

    async def state(self, seconds: float = 30) -> str:
        """The next state the relay sends systemd (pings aside)."""
        return (await self.timed_state(seconds))[1]

    async def timed_state(self, seconds: float = 30) -> tuple[float, str]:
        async with asyncio.timeout(seconds):
            return await self._states.get()

    def pings_between(self, start: float, end: float) -> int:
        return sum(1 for at in self.pings if start < at <= end)

    async def event(self, name: str, after: int = 0) -> dict[str, Any]:
        """The first log line named `name` from line `after` on, waiting for it if need be."""
        async with asyncio.timeout(30):
            while True:
                for line in self.lines[after:]:
                    if line.get("event") == name:
                        return line
                self._new_line.clear()
                await self._new_line.wait()

    async def reload(self) -> list[dict[str, Any]]:
        """SIGHUP, then the lines the relay logged until it told systemd it was ready again."""
        assert self.process is not None
        before = len(self.lines)
        self.process.send_signal(signal.SIGHUP)
        assert (await self.state()).startswith("RELOADING=1\nMONOTONIC_USEC=")
        assert await self.state() == "READY=1"
        await asyncio.sleep(0.5)  # stderr is a pipe: let the lines through
        # The archive's checkpoints (at start, then on a timer) may fall in the window.
        return [line for line in self.lines[before:] if line.get("event") != "archive.checkpoint"]

    async def exited(self, seconds: float = 60) -> int:
        assert self.process is not None
        async with asyncio.timeout(seconds):
            return await self.process.wait()

    async def stop(self) -> int | None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await self.exited()
            finally:  # a relay stuck (a test that failed with its loop blocked) is not left
                if self.process.returncode is None:
                    self.process.kill()
                    await self.process.wait()
        if self._tasks:
            await self._tasks[0]
            self._tasks[1].cancel()
        if self.notify.fileno() != -1:
            self.notify.close()
            os.unlink(os.path.join(self._socket_dir, "notify"))
            os.rmdir(self._socket_dir)
        return None if self.process is None else self.process.returncode


def rewrite(relay: Daemon, **changes: dict[str, Any]) -> None:
    for name, values in changes.items():
        relay.sections[name] = {**relay.sections[name], **values}
    write_config(relay.config, relay.sections)
