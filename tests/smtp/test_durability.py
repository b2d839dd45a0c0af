"""Crash safety, graceful shutdown and several instances, with the relay as a real process."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

import aiosmtplib
import pytest

from tests.smtp.conftest import BUYER, SELLER, Client, compose
from tests.smtp.process import RelayProcess, free_port, write_config
from tests.smtp.upstream import PASSWORD, USERNAME, Certificates, Stalling, Upstream

Spawn = Callable[[], Awaitable[RelayProcess]]


@pytest.fixture
async def spawn(store_url: str, upstream: Upstream, certificates: Certificates,
                tmp_path: Path) -> AsyncIterator[Spawn]:
    """Start relay processes on one store, delivering to the test upstream."""
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    started: list[RelayProcess] = []

    async def start() -> RelayProcess:
        port = free_port()
        config = write_config(tmp_path / f"relay-{port}.toml", {
            "server": {"listen": f"127.0.0.1:{port}", "hostname": "mx.relay.example"},
            "aliases": {"domain": "relay.example"},
            "store": {"url": store_url},
            "upstream": {"kind": "smtp", "host": "localhost", "port": upstream.port,
                         "username": USERNAME, "password_file": str(secret),
                         "ca_file": str(certificates.ca_file), "timeout": "10s"},
            "queue": {"backoff": ["1s"], "workers": 4},
            "admin": {"address": "ops@marketplace.example"},
            "logging": {"level": "warning"},
            "archive": {"checkpoint_file": str(tmp_path / "archive-checkpoints"),
                        "checkpoint_key_file": str(tmp_path / "archive-checkpoint.key")},
        })
        relay = RelayProcess(config, port)
        await relay.start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        await relay.stop()


async def seed(relay: RelayProcess) -> str:
    await relay.cli("seller", "add", "s1", "--name", "Acme Shop", "--email", SELLER)
    await relay.cli("buyer", "add", "b1", "--email", BUYER, "--name", "Bob")
    await relay.cli("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
    alias: str = json.loads(await relay.cli("alias", "show", "--buyer", "b1", "--seller", "s1")
                            )["buyer_alias"]
    return alias


def stall(upstream: Upstream) -> Stalling:
    upstream.handler = handler = Stalling()
    return handler


async def send_many(relay: RelayProcess, alias: str, count: int) -> list[str]:
    texts = [f"claimed {n}" for n in range(count)]
    async with Client(relay.port) as c:
        for text in texts:
            assert (await c.send(SELLER, alias, compose(SELLER, alias, body=text + "\n"))
                    ).code == 250
    return texts


async def held_by(relay: RelayProcess, count: int) -> None:
    """Wait until `relay queue list` shows `count` messages leased to this relay."""
    assert relay.process is not None
    async with asyncio.timeout(15):
        while True:
            items = json.loads(await relay.cli("queue", "list"))
            holders = [i["holder"] for i in items if i["holder"] is not None]
            if len(holders) == count:
                break
            await asyncio.sleep(0.2)
    assert {h.rpartition("[")[2] for h in holders} == {f"{relay.process.pid}]"}
    assert all(i["lease_until"] for i in items if i["holder"] is not None)


def bodies(upstream: Upstream) -> Counter[str]:
    parser = BytesParser(policy=policy.default)
    return Counter(parser.parsebytes(m.data).get_content().strip()
                   for m in upstream.handler.messages)


class TestCrash:
    async def test_sigkill_after_250_loses_nothing(self, spawn: Spawn, upstream: Upstream
                                                   ) -> None:
        """250 with the upstream down, kill -9, restart: the message goes out exactly once."""
        await upstream.stop()
        relay = await spawn()
        alias = await seed(relay)
        async with Client(relay.port) as c:
            answer = await c.send(SELLER, alias, compose(SELLER, alias, body="survivor\n"))
        assert answer.code == 250
        await relay.kill()
        await upstream.start()
        await asyncio.sleep(0.5)
        assert upstream.handler.messages == []  # nobody was left to deliver it
        again = RelayProcess(relay.config, relay.port)
        await again.start()
        try:
            await upstream.handler.wait_for(1, seconds=20)
            await asyncio.sleep(1.5)
        finally:
            await again.stop()
        assert bodies(upstream) == Counter({"survivor": 1})


    async def test_sigkill_with_claimed_messages_then_restart_delivers_them_at_once(
        self, spawn: Spawn, upstream: Upstream
    ) -> None:
        """Claims of a relay killed mid-send do not wait out a lease when it restarts."""
        upstream_stalled = stall(upstream)
        relay = await spawn()
        alias = await seed(relay)
        texts = await send_many(relay, alias, 6)
        await held_by(relay, 4)  # one message per worker, stuck at the upstream's RCPT
        await relay.kill()
        upstream_stalled.go.set()
        again = RelayProcess(relay.config, relay.port)
        await again.start()
        try:
            await upstream_stalled.wait_for(len(texts), seconds=30)
            await asyncio.sleep(1.5)
        finally:
            await again.stop()
        assert bodies(upstream) == Counter(texts)


class TestShutdown:
    async def test_sigterm_finishes_the_transaction_in_progress(
        self, spawn: Spawn, upstream: Upstream
    ) -> None:
        """SIGTERM in the middle of DATA: that message still gets 250, then exit status 0."""
        relay = await spawn()
        alias = await seed(relay)
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=relay.port, timeout=20)
        await client.connect()
        await client.ehlo()
        await client.mail(SELLER)
        await client.rcpt(alias)
        code, _ = await client.execute_command(b"DATA")
        assert code == 354
        assert relay.process is not None
        relay.process.send_signal(15)
        await asyncio.sleep(0.3)
        message = compose(SELLER, alias, body="in flight\n")
        client.protocol.write(message + b".\r\n")  # type: ignore[union-attr]
        response = await client.protocol.read_response(timeout=20)  # type: ignore[union-attr]
        assert response.code == 250
        client.close()
        assert await relay.process.wait() == 0
        # Delivered before exit, or left queued for the next start: never lost.
        if not upstream.handler.messages:
            again = RelayProcess(relay.config, relay.port)
            await again.start()
            await upstream.handler.wait_for(1, seconds=20)
            await again.stop()
        assert bodies(upstream) == Counter({"in flight": 1})


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
class TestTwoInstances:
    async def test_500_queued_messages_go_out_once(self, spawn: Spawn, upstream: Upstream
                                                   ) -> None:
        """Two relays on one PostgreSQL queue: no message lost, none sent twice."""
        await upstream.stop()
        first = await spawn()
        alias = await seed(first)

        async def client(n: int) -> None:
            async with Client(first.port) as c:
                for i in range(50):
                    message = compose(SELLER, alias, body=f"m{n}-{i}\n")
                    assert (await c.send(SELLER, alias, message)).code == 250

        await asyncio.gather(*(client(n) for n in range(10)))
        await spawn()
        await upstream.start()
        await upstream.handler.wait_for(500, seconds=120)
        await asyncio.sleep(2)
        counts = bodies(upstream)
        assert len(counts) == 500
        assert set(counts.values()) == {1}

    async def test_when_one_is_killed_the_other_delivers_what_it_held(
        self, spawn: Spawn, upstream: Upstream
    ) -> None:
        """No restart: the survivor takes the dead one's claims and sends each once."""
        upstream_stalled = stall(upstream)
        first = await spawn()
        alias = await seed(first)
        texts = await send_many(first, alias, 6)
        await held_by(first, 4)
        await spawn()
        await first.kill()
        upstream_stalled.go.set()
        await upstream_stalled.wait_for(len(texts), seconds=60)
        await asyncio.sleep(1.5)
        assert bodies(upstream) == Counter(texts)
