"""One task group owns the background work: a bug in it stops the relay, loudly."""

from __future__ import annotations

import asyncio
import json

import aiosmtplib
import pytest

from relay import app
from relay.config import UpstreamSettings
from relay.model import Delivery
from tests.conftest import SettingsFactory
from tests.smtp.process import free_port


class Broken:
    """An upstream whose client library fails in a way no transport maps: a bug."""

    def __init__(self) -> None:
        self.tried = asyncio.Event()

    async def send(self, delivery: Delivery, data: bytes) -> None:
        self.tried.set()
        raise KeyError("a bug in the transport")

    async def close(self) -> None:
        return None


MESSAGE = (b"From: someone@outside.example\r\nTo: postmaster@relay.example\r\n"
           b"Subject: hello\r\n\r\nHello.\r\n")


async def test_a_failing_worker_stops_serve_with_the_traceback_logged(
    make_settings: SettingsFactory, store_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    settings = make_settings(server={"listen": f"127.0.0.1:{port}"}, store={"url": store_url},
                             logging={"format": "json", "level": "info"})
    broken = Broken()

    def create_transport(settings: UpstreamSettings, signer: object = None,
                         helo: object = None) -> Broken:
        return broken

    monkeypatch.setattr(app, "create_transport", create_transport)
    serving = asyncio.create_task(app.serve(settings))
    async with asyncio.timeout(30):
        while True:
            try:
                client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
                await client.connect()
                break
            except OSError:
                await asyncio.sleep(0.05)
        await client.sendmail("someone@outside.example", ["postmaster@relay.example"], MESSAGE)
        await client.quit()
        with pytest.raises(app.Crashed):
            await serving
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    (crash,) = [line for line in lines if line["event"] == "relay.crashed"]
    assert crash["level"] == "critical"
    assert "KeyError: 'a bug in the transport'" in crash["exception"]
    assert [line["event"] for line in lines][-1] == "relay.stopped"
