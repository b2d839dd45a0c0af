"""One benchmark cell: N clients, one SMTP connection each, sending back to back.

The rate is messages that reached the sink divided by the time from the first
send to the last arrival, so for the relay it includes getting them upstream.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiosmtplib

from bench.message import header
from bench.procs import BenchError, Sink, cpu_seconds

POLL_SECONDS = 0.02
MAX_REFUSALS_IN_A_ROW = 20


@dataclass(frozen=True)
class Target:
    """Where the clients send and where arrivals are counted."""

    port: int
    sink: Sink
    server_pid: int  # the process doing the work, for its CPU time
    sender: str
    recipient: str
    alive: Callable[[], bool]  # False once the server (or its sink) has exited


@dataclass(frozen=True)
class Limits:
    seconds: float  # sending window per cell
    max_messages: int  # per cell, whichever comes first
    drain_seconds: float  # how long to wait for arrivals after the window


@dataclass
class Tally:
    accepted: int = 0
    refused: int = 0
    errors: int = 0
    first_problem: str | None = None
    latencies: list[float] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if self.first_problem is None:
            self.first_problem = text[:300]


@dataclass(frozen=True)
class Cell:
    clients: int
    size: int
    accepted: int
    delivered: int
    refused: int
    errors: int
    seconds: float
    rate: float
    complete: bool
    latency_p50_ms: float
    latency_p99_ms: float
    server_cpu: float  # fraction of one core over the measured time
    sink_cpu: float
    client_cpu: float
    first_problem: str | None


def _client(port: int) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=120)


async def _connect(port: int) -> aiosmtplib.SMTP:
    client = _client(port)
    await client.connect()
    await client.ehlo()
    return client


async def _send_one(client: aiosmtplib.SMTP, target: Target, body: bytes, tally: Tally) -> bool:
    """One transaction; False when the connection is gone."""
    data = header(target.sender, target.recipient) + body
    started = time.monotonic()
    try:
        await client.sendmail(target.sender, [target.recipient], data)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        tally.refused += 1
        tally.problem(f"RCPT refused: {exc.recipients[0]}")
        return await _rset(client)
    except aiosmtplib.SMTPResponseException as exc:
        tally.refused += 1
        tally.problem(f"refused: {exc.code} {exc.message}")
        return await _rset(client)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        tally.errors += 1
        tally.problem(f"connection failed: {type(exc).__name__}: {exc}")
        client.close()
        return False
    tally.accepted += 1
    tally.latencies.append(time.monotonic() - started)
    return True


async def _rset(client: aiosmtplib.SMTP) -> bool:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
        return False
    return True


async def _worker(
    client: aiosmtplib.SMTP, target: Target, body: bytes, until: float, budget: list[int],
    tally: Tally,
) -> None:
    refusals = 0
    while time.monotonic() < until and budget[0] > 0:
        budget[0] -= 1
        before = tally.refused
        if not await _send_one(client, target, body, tally):
            try:  # one fresh connection, then give up on this client
                client = await _connect(target.port)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                tally.problem(f"reconnect failed: {exc}")
                return
        refusals = refusals + 1 if tally.refused > before else 0
        if refusals >= MAX_REFUSALS_IN_A_ROW:
            return
    client.close()


async def _close(clients: list[aiosmtplib.SMTP]) -> None:
    for client in clients:
        if client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), 5.0)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


async def _arrivals(target: Target, expected: int, seconds: float) -> tuple[int, float]:
    """Wait (bounded) until the sink has `expected` messages: (count, last arrival)."""
    deadline = time.monotonic() + seconds
    stat = await target.sink.stat()
    while stat.count < expected and time.monotonic() < deadline and target.alive():
        await asyncio.sleep(POLL_SECONDS)
        stat = await target.sink.stat()
    return stat.count, stat.last


async def _connect_all(port: int, clients: int) -> list[aiosmtplib.SMTP]:
    results = await asyncio.gather(*(_connect(port) for _ in range(clients)),
                                   return_exceptions=True)
    connections = [r for r in results if isinstance(r, aiosmtplib.SMTP)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for client in connections:
            client.close()
        raise BenchError(f"cannot open {len(failures)} of {clients} SMTP connections to "
                         f"127.0.0.1:{port}: {failures[0]!r}")
    return connections


def _percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def run_cell(
    target: Target, size: int, body: bytes, clients: int, limits: Limits,
) -> Cell:
    await target.sink.reset()
    connections = await _connect_all(target.port, clients)
    tally = Tally()
    budget = [limits.max_messages]
    cpu = (time.process_time(), cpu_seconds(target.server_pid), cpu_seconds(target.sink.pid))
    started = time.monotonic()
    try:
        async with asyncio.timeout(limits.seconds + 300):
            await asyncio.gather(*(
                _worker(c, target, body, started + limits.seconds, budget, tally)
                for c in connections
            ))
    finally:
        await _close(connections)
    delivered, last = await _arrivals(target, tally.accepted, limits.drain_seconds)
    # When nothing arrived, use the time until now, so the rate is 0 and not a division by 0.
    elapsed = (last if delivered else time.monotonic()) - started
    elapsed = max(elapsed, 1e-6)
    client_cpu = time.process_time() - cpu[0]
    server_cpu = cpu_seconds(target.server_pid) - cpu[1]
    sink_cpu = cpu_seconds(target.sink.pid) - cpu[2]
    return Cell(
        clients=clients, size=size, accepted=tally.accepted, delivered=delivered,
        refused=tally.refused, errors=tally.errors, seconds=elapsed,
        rate=delivered / elapsed, complete=delivered == tally.accepted and tally.accepted > 0,
        latency_p50_ms=_percentile(tally.latencies, 50),
        latency_p99_ms=_percentile(tally.latencies, 99),
        server_cpu=server_cpu / elapsed, sink_cpu=sink_cpu / elapsed,
        client_cpu=client_cpu / elapsed, first_problem=tally.first_problem,
    )


async def burst(
    target: Target, size: int, body: bytes, clients: int, drain_seconds: float,
) -> Cell:
    """Every client sends one message at the same moment (the RSS measurement)."""
    limits = Limits(seconds=300.0, max_messages=clients, drain_seconds=drain_seconds)
    return await run_cell(target, size, body, clients, limits)
