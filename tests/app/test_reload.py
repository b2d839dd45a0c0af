"""SIGHUP reloads the configuration: good files apply to new sessions, bad ones are refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from relay.app import Relay
from relay.config import ConfigError
from tests.conftest import SettingsFactory
from tests.smtp.process import free_port, write_config
from tests.smtp.upstream import Certificates, make_certificates

ADMIN = "postmaster@relay.example"


def looped(hops: int) -> bytes:
    """A message that has already passed `hops` servers."""
    received = b"".join(b"Received: from hop%d.example by hop%d.example; "
                        b"Tue, 01 Dec 2026 10:00:00 +0000\r\n" % (n, n) for n in range(hops))
    return received + (b"From: someone@outside.example\r\nTo: " + ADMIN.encode() +
                       b"\r\nSubject: hello\r\n\r\nHello.\r\n")


async def send(port: int, message: bytes) -> int:
    """One transaction to postmaster@; the code of the reply to DATA (or the first refusal)."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
    await client.connect()
    try:
        await client.sendmail("someone@outside.example", [ADMIN], message)
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code
    finally:
        client.close()
    return 250


class Daemon:
    """`relay serve` as systemd runs it: JSON log on stderr, sd_notify on a socket."""

    def __init__(self, config: Path, port: int, sections: dict[str, dict[str, Any]]) -> None:
        self.config, self.port, self.sections = config, port, sections
        self.lines: list[dict[str, Any]] = []
        self._new_line = asyncio.Event()
        self._socket_dir = tempfile.mkdtemp(prefix="relay-notify-")  # AF_UNIX paths are short
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(os.path.join(self._socket_dir, "notify"))
        self.notify.setblocking(False)
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relay", "--config", str(self.config), "serve",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1",
                 "NOTIFY_SOCKET": self.notify.getsockname()},
        )
        self._reader = asyncio.create_task(self._read())
        assert await self.state() == "READY=1"

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode().strip()
            self.lines.append(json.loads(line) if line.startswith("{") else {"event": line})
            self._new_line.set()

    async def state(self) -> str:
        """The next message the relay sends systemd."""
        async with asyncio.timeout(30):
            data = await asyncio.get_running_loop().sock_recv(self.notify, 4096)
        return data.decode()

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
        return self.lines[before:]

    async def stop(self) -> int | None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(60):
                await self.process.wait()
        if self._reader is not None:
            await self._reader
        if self.notify.fileno() != -1:
            self.notify.close()
            os.unlink(os.path.join(self._socket_dir, "notify"))
            os.rmdir(self._socket_dir)
        return None if self.process is None else self.process.returncode


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    port = free_port()
    sections: dict[str, dict[str, Any]] = {
        "server": {"listen": f"127.0.0.1:{port}", "hostname": "mx.relay.example",
                   "max_hops": 50},
        "aliases": {"domain": "relay.example"},
        "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"},
        "upstream": {"kind": "outbox", "outbox_dir": str(tmp_path / "outbox")},
        "admin": {"address": "ops@marketplace.example"},
        "logging": {"format": "json", "level": "info"},
    }
    config = write_config(tmp_path / "relay.toml", sections)
    upgrade = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relay", "--config", str(config), "db", "upgrade",
        stdout=asyncio.subprocess.DEVNULL)
    assert await upgrade.wait() == 0
    relay = Daemon(config, port, sections)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


def rewrite(relay: Daemon, **changes: dict[str, Any]) -> None:
    for name, values in changes.items():
        relay.sections[name] = {**relay.sections[name], **values}
    write_config(relay.config, relay.sections)


async def test_sighup_applies_a_good_file_refuses_a_bad_one_and_keeps_serving(
    daemon: Daemon,
) -> None:
    assert await send(daemon.port, looped(3)) == 250
    await daemon.event("delivery.done")  # quiet before each reload: its lines are all we read

    rewrite(daemon, server={"max_hops": 2})
    lines = await daemon.reload()
    assert [(line["event"], line.get("changed")) for line in lines] == [
        ("config.reloaded", ["server"])]
    assert await send(daemon.port, looped(3)) == 554, "a new session applies the new max_hops"

    daemon.config.write_text(daemon.config.read_text() + "\n[queue]\nworkerz = 2\n")
    lines = await daemon.reload()
    assert [(line["event"], line["level"]) for line in lines] == [("config.refused", "error")]
    assert lines[0]["error"] == "queue.workerz: unknown key"
    assert await send(daemon.port, looped(3)) == 554, "the running configuration serves on"
    before = len(daemon.lines)
    assert await send(daemon.port, looped(1)) == 250
    await daemon.event("delivery.done", after=before)

    rewrite(daemon, server={"listen": f"127.0.0.1:{free_port()}"})
    lines = await daemon.reload()
    assert [(line["event"], line.get("keys")) for line in lines] == [
        ("config.needs_restart", ["server.listen"]), ("config.reloaded", None)]
    assert await send(daemon.port, looped(1)) == 250, "still on the port it started with"

    assert daemon.process is not None
    assert daemon.process.returncode is None
    assert await daemon.stop() == 0


class TestCertificate:
    async def test_starttls_after_a_reload_serves_the_new_certificate(
        self, make_settings: SettingsFactory, store_url: str, tmp_path: Path
    ) -> None:
        old, new = (make_certificates(_dir(tmp_path / name)) for name in ("old", "new"))
        relay = Relay(make_settings(store={"url": store_url}, server=_tls(old)))
        await relay.start()
        try:
            assert await _starttls(relay.address[1], old)
            await relay.reload(make_settings(store={"url": store_url}, server=_tls(new)))
            assert await _starttls(relay.address[1], new)
            assert not await _starttls(relay.address[1], old)
        finally:
            await relay.stop(drain=1)

    async def test_an_unreadable_certificate_is_refused_and_the_old_one_serves(
        self, make_settings: SettingsFactory, store_url: str, tmp_path: Path
    ) -> None:
        old = make_certificates(_dir(tmp_path / "old"))
        relay = Relay(make_settings(store={"url": store_url}, server=_tls(old)))
        await relay.start()
        try:
            missing = {"tls_cert": str(tmp_path / "none.pem"), "tls_key": str(old.key_file)}
            with pytest.raises(ConfigError, match=r"^server\.tls_cert: cannot load it"):
                await relay.reload(make_settings(store={"url": store_url}, server=missing))
            assert await _starttls(relay.address[1], old)
        finally:
            await relay.stop(drain=1)


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def _tls(certificates: Certificates) -> dict[str, str]:
    return {"tls_cert": str(certificates.cert_file), "tls_key": str(certificates.key_file)}


async def _starttls(port: int, trusted: Certificates) -> bool:
    """Whether STARTTLS succeeds for a client that trusts only `trusted`'s CA."""
    context = ssl.create_default_context(cafile=str(trusted.ca_file))
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10, start_tls=False,
                             tls_context=context)
    await client.connect()
    try:
        await client.starttls(server_hostname="localhost")
    except (aiosmtplib.SMTPException, ssl.SSLError):
        return False
    finally:
        client.close()
    return True


def test_the_unit_reloads_with_sighup_and_waits_for_ready() -> None:
    """`systemctl reload` sends what serve handles, and waits for RELOADING/READY."""
    unit = (Path(__file__).parents[2] / "systemd" / "relay.service").read_text().splitlines()
    assert "Type=notify" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
