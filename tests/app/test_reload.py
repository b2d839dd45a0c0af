"""SIGHUP reloads the configuration: good files apply to new sessions, bad ones are refused."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from relay.app import Relay
from relay.config import ConfigError
from tests.app.daemon import Daemon, rewrite, sections_for, upgraded
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


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    sections = sections_for(tmp_path)
    config = write_config(tmp_path / "relay.toml", sections)
    await upgraded(config)
    relay = Daemon(config, sections)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


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
