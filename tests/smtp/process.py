"""The relay as a real process: for SIGKILL, SIGTERM and two instances on one store."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a listening TCP socket on `port` (Linux /proc)."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with suppress(OSError):  # closed since the listing
            inodes.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port \
                        and f"socket:[{inode}]" in inodes:
                    return True
    return False


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A TOML file from plain data (strings, numbers, booleans and lists of them).

    The metrics listener is off unless `sections` has a [metrics]: relays under test
    must not all take its default port.
    """
    lines = []
    for name, table in {"metrics": {"listen": ""}, **sections}.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class RelayProcess:
    def __init__(self, config: Path, port: int,
                 preexec: Callable[[], None] | None = None) -> None:
        """`preexec` runs in the child before relay does (a restriction systemd would set)."""
        self.config, self.port, self.preexec = config, port, preexec
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def cli(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay", "--config", str(self.config), "--json", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode()

    async def start(self) -> None:
        """Return once this very process listens on its port.

        Not merely once the port answers: under parallel suites another process may
        hold the port the test picked, and a connection to it would prove nothing.
        """
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay", "--config", str(self.config), "serve",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=self.preexec,
        )
        assert self.process.stderr is not None
        self._drain = asyncio.create_task(self._read(self.process.stderr))
        async with asyncio.timeout(30):
            while not listens(self.process.pid, self.port):
                if self.process.returncode is not None:
                    await self._drain
                    raise AssertionError("relay exited on start:\n" + "".join(self.log))
                await asyncio.sleep(0.05)

    async def _read(self, stderr: asyncio.StreamReader) -> None:
        """Keep the pipe drained: a full pipe would stall the relay's logging."""
        async for raw in stderr:
            self.log.append(raw.decode(errors="replace"))

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, seconds: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(seconds):
            return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._drain is not None:
            await self._drain
