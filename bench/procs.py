"""Child processes that are always stopped (SIGTERM, then SIGKILL), and /proc readings."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Variables that would make a child behave differently from the config we give it.
_SCRUB = ("NOTIFY_SOCKET", "RELAY_CONFIG", "RELAY_UPSTREAM_PASSWORD", "WATCHDOG_USEC")

# Every child ever started, so that a last-resort sync cleanup can kill leftovers.
STARTED: list[Child] = []


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 10) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class Child:
    """One subprocess in its own session (Ctrl-C reaches only us; we stop it in order)."""

    def __init__(self, name: str, argv: list[str], directory: Path, *, control: bool = False):
        self.name = name
        self.argv = argv
        self.stderr_path = directory / f"{name}.stderr"
        self._control = control
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, cwd: Path) -> None:
        pipe = asyncio.subprocess.PIPE
        with self.stderr_path.open("wb") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=cwd,
                env=child_env(),
                stdin=pipe if self._control else asyncio.subprocess.DEVNULL,
                stdout=pipe if self._control else asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        STARTED.append(self)

    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    def failure(self, what: str) -> BenchError:
        code = None if self.process is None else self.process.returncode
        return BenchError(
            f"{self.name} {what} (exit status {code}); its stderr ends:\n"
            f"{tail(self.stderr_path) or '(empty)'}"
        )

    async def stop(self, grace: float = 15.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with suppress(ProcessLookupError):
                process.kill()
            await asyncio.wait_for(process.wait(), 5.0)


def kill_leftovers() -> None:
    """Synchronous last resort after the event loop is gone (second Ctrl-C, crash)."""
    for child in STARTED:
        process = child.process
        if process is not None and process.returncode is None:
            with suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)


async def wait_listening(child: Child, port: int, seconds: float = 30.0) -> None:
    """Until 127.0.0.1:port accepts a connection, or the child dies, or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.exited():
            raise child.failure("exited before listening")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()
        return
    raise child.failure(f"did not listen on 127.0.0.1:{port} within {seconds:g}s")


@dataclass
class SinkStat:
    count: int
    bytes: int
    first: float
    last: float


class Announcing(Child):
    """A `python -m bench.<module>` child that prints `{"port": N}` once listening.

    Its stdin is a pipe from us: at its end (we exited, however) the child stops.
    """

    def __init__(self, name: str, directory: Path, module: str, extra: list[str]) -> None:
        super().__init__(name, [sys.executable, "-m", module, *extra], directory, control=True)
        self.port = 0

    async def start(self, cwd: Path = ROOT) -> None:
        await super().start(cwd)
        line = await self._line(20.0, "did not start")
        self.port = int(json.loads(line)["port"])

    async def _line(self, seconds: float, what: str) -> str:
        assert self.process is not None
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), seconds)
        except TimeoutError:
            raise self.failure(what) from None
        if not line:
            await asyncio.sleep(0.2)  # let the exit status arrive
            raise self.failure(what)
        return line.decode()


class Forwarder(Announcing):
    """A `bench.forwarder` process: the bare aiosmtpd + aiosmtplib forwarding baseline."""

    def __init__(self, name: str, directory: Path, extra: list[str]) -> None:
        super().__init__(name, directory, "bench.forwarder", extra)


class Sink(Announcing):
    """A `bench.sink` process, driven over its stdin/stdout."""

    def __init__(self, name: str, directory: Path, extra: list[str]) -> None:
        super().__init__(name, directory, "bench.sink", extra)
        self._lock = asyncio.Lock()

    async def _ask(self, command: str) -> str:
        assert self.process is not None
        assert self.process.stdin is not None
        async with self._lock:
            self.process.stdin.write(command.encode() + b"\n")
            await self.process.stdin.drain()
            return await self._line(10.0, f"did not answer {command!r}")

    async def stat(self) -> SinkStat:
        data: dict[str, Any] = json.loads(await self._ask("stat"))
        return SinkStat(int(data["count"]), int(data["bytes"]), float(data["first"]),
                        float(data["last"]))

    async def reset(self) -> None:
        await self._ask("reset")


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (0.0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in bytes, from /proc/<pid>/status."""
    out: dict[str, int] = {}
    with suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out

