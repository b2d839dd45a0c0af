"""The log of `relay serve` itself, as the journal gets it: real traffic, every stderr line.

tests/smtp/test_logging.py checks the session lines in-process; here the whole
process is checked, including what the standard library logs (aiosmtpd, asyncio)
and the delivery workers, at debug level, where most is said.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.smtp.conftest import BUYER, SELLER, Client, compose
from tests.smtp.process import RelayProcess, free_port, write_config
from tests.smtp.upstream import PASSWORD, USERNAME, Certificates, Upstream

STRANGER = "mallory.stranger@elsewhere.example"  # not in the directory
REAL = (SELLER, BUYER, STRANGER)
BODY = "pineapple-upside-down"  # in every body: no line may carry it
# The process's own events; every other line belongs to a transaction and names it.
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
PROCESS_EVENTS = {"relay.started", "relay.stopped", "process.registered", "process.left",
                  "archive.checkpoint"}


def deny_write_execute() -> None:
    """What the unit's MemoryDenyWriteExecute=yes does, where the kernel can (Linux 6.3+
    PR_SET_MDWE): no memory both writable and executable, so the traffic below shows
    that CPython and relay's libraries (TLS, asyncpg, greenlet) run without it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0)  # older kernels: EINVAL


@pytest.fixture
async def relay(store_url: str, upstream: Upstream, certificates: Certificates,
                tmp_path: Path) -> AsyncIterator[RelayProcess]:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    port = free_port()
    config = write_config(tmp_path / "relay.toml", {
        "server": {"listen": f"127.0.0.1:{port}", "hostname": "mx.relay.example"},
        "aliases": {"domain": "relay.example"},
        "store": {"url": store_url},
        "upstream": {"kind": "smtp", "host": "localhost", "port": upstream.port,
                     "username": USERNAME, "password_file": str(secret),
                     "ca_file": str(certificates.ca_file), "timeout": "10s"},
        "admin": {"address": "ops@marketplace.example"},
        "logging": {"format": "json", "level": "debug"},
        "archive": {"checkpoint_file": str(tmp_path / "archive-checkpoints"),
                    "checkpoint_key_file": str(tmp_path / "archive-checkpoint.key")},
    })
    process = RelayProcess(config, port, preexec=deny_write_execute)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def _aliases(relay: RelayProcess) -> dict[str, str]:
    await relay.cli("seller", "add", "s1", "--name", "Acme Shop", "--email", SELLER)
    await relay.cli("buyer", "add", "b1", "--email", BUYER, "--name", "Bob")
    await relay.cli("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
    aliases: dict[str, str] = json.loads(
        await relay.cli("alias", "show", "--buyer", "b1", "--seller", "s1"))
    return aliases


async def _lines(relay: RelayProcess, delivered: int) -> list[dict[str, Any]]:
    """Every line, each parsed as JSON, once `delivered` deliveries are logged and the
    relay has stopped (its shutdown's lines too, a 421 to an idle session among them)."""
    for _ in range(200):
        if sum('"delivery.done"' in line for line in relay.log) >= delivered:
            break
        await asyncio.sleep(0.05)
    async with Client(relay.port):  # idle at SIGTERM: the drain says 421 to it
        assert await relay.terminate() == 0
    await relay.stop()
    return [json.loads(line) for line in relay.log]  # fails on any line that is not JSON


async def test_every_line_is_json_names_its_transaction_and_hides_the_parties(
    relay: RelayProcess, upstream: Upstream,
) -> None:
    aliases = await _aliases(relay)
    buyer_alias, seller_alias = aliases["buyer_alias"], aliases["seller_alias"]
    accepted: list[str] = []
    async with Client(relay.port) as client:
        answer = await client.send(SELLER, buyer_alias, compose(
            SELLER, buyer_alias, body=f"Your parcel left today. {BODY}\n"))
        assert answer.code == 250
        accepted.append(answer.text.split()[-1])
        answer = await client.send(BUYER, seller_alias, compose(
            BUYER, seller_alias, body=f"Thanks! {BODY}\n"))
        assert answer.code == 250
        accepted.append(answer.text.split()[-1])
        # Refused: at RCPT (a stranger), after DATA (an off-platform link), a syntax error.
        assert (await client.send(STRANGER, buyer_alias, compose(
            STRANGER, buyer_alias, body=f"{BODY}\n"))).code == 550
        assert (await client.send(SELLER, buyer_alias, compose(
            SELLER, buyer_alias, body=f"Cheaper at https://acme-direct.com/deal {BODY}\n"))
        ).code == 550
        assert (await client.command("MAIL", f"TO:<{STRANGER}>")).code == 501
    await upstream.handler.wait_for(2)
    lines = await _lines(relay, delivered=2)

    text = "\n".join(relay.log).lower()
    for address in REAL:
        assert address.lower() not in text, address
    assert BODY not in text

    events = {line["event"] for line in lines}
    assert {"mail.from", "data.accepted", "delivery.done", "smtp.refused"} <= events
    untagged = [line for line in lines if "tx" not in line]
    assert {line["event"] for line in untagged} <= PROCESS_EVENTS, [
        line for line in untagged if line["event"] not in PROCESS_EVENTS]
    assert all(len(line["tx"]) == 32 for line in lines if "tx" in line)
    for tx in accepted:  # the id of the 250 reply, from the session to the delivery
        mine = {line["event"] for line in lines if line.get("tx") == tx}
        assert {"data.accepted", "delivery.done"} <= mine, (tx, mine)
