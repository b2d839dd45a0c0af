"""`python -m bench`: bare aiosmtpd sink, bare forwarder and the whole relay, on 127.0.0.1 only.

Each cell (size x clients) runs against the bare sink (the issue's baseline),
then the bare forwarder (`bench.forwarder`: aiosmtpd in, aiosmtplib out, nothing
else; the ceiling for any relay built on them), then the relay on SQLite, then
the same relay on a PostgreSQL database of the bench's own (`bench.postgres`).

Everything runs in a temporary directory that is removed at the end; every
child process is stopped with SIGTERM (then SIGKILL) on success, failure,
Ctrl-C or SIGTERM. Exit status 0 when the benchmark ran, whatever the
targets say; 1 when it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import message, world
from bench.load import Limits, Target, burst, run_cell
from bench.postgres import ADMIN_URL, BenchDatabase
from bench.procs import (
    BenchError,
    Child,
    Sink,
    free_port,
    kill_leftovers,
    memory,
    tail,
    wait_listening,
)
from bench.profile import Recorder, top
from bench.report import KIB, MIB, Memory, PgCell, Results, Row, size_name, to_json, to_text

SIZES = (5 * KIB, 1 * MIB)
CLIENTS = (1, 20)
BURST_CLIENTS, BURST_SIZE = 20, 10 * MIB
BURST_DRAIN = 300.0  # 200 MiB through relay takes a while
WARM_UP = 20
FORWARDER_WORKERS = 4  # if relay's own default cannot be read


def _sizes(text: str) -> tuple[int, ...]:
    units = {"kib": KIB, "k": KIB, "mib": MIB, "m": MIB, "b": 1, "": 1}
    sizes = []
    for item in text.split(","):
        number = item.strip().rstrip("BbIiKkMm")
        unit = item.strip()[len(number):].lower()
        if not number.isdigit() or unit not in units or int(number) == 0:
            raise argparse.ArgumentTypeError(f"{item!r} is not a size such as 5KiB or 1MiB")
        sizes.append(int(number) * units[unit])
    return tuple(sizes)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None,
                        help="sending window per cell (default 4; 1.5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="short cells, for a smoke run")
    parser.add_argument("--max-messages", type=int, default=50_000,
                        help="cap per cell, whichever of this and --seconds comes first")
    parser.add_argument("--drain", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for deliveries after a cell (default 120; 60 quick)")
    parser.add_argument("--sizes", type=_sizes, default=SIZES, metavar="LIST",
                        help="message sizes, e.g. 5KiB,1MiB (the default)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS burst")
    parser.add_argument("--no-postgres", action="store_true",
                        help="skip the relay on PostgreSQL (else run beside SQLite when "
                             "$RELAY_BENCH_POSTGRES_URL, default the local server, answers)")
    parser.add_argument("--profile", metavar="PATH", type=Path,
                        help="py-spy the relay during the load cells; raw stacks into PATH")
    parser.add_argument("--dkim", action="store_true",
                        help="the relay DKIM-signs what it sends (a key of its own, RSA 2048)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 1.5 if args.quick else 4.0
    if args.drain is None:
        args.drain = 60.0 if args.quick else 120.0
    if args.seconds <= 0 or args.max_messages < 1 or args.drain <= 0:
        parser.error("--seconds, --max-messages and --drain must be positive")
    return args


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


async def _started(stack: AsyncExitStack, child: Child, cwd: Path) -> None:
    stack.push_async_callback(child.stop)
    await child.start(cwd)


async def _warm_up(target: Target, name: str, drain: float) -> None:
    body = message.body(5 * KIB)
    cell = await run_cell(target, 5 * KIB, body, 1, Limits(60.0, WARM_UP, drain))
    if not cell.complete:
        raise BenchError(
            f"warm-up through {name} failed: {cell.delivered}/{cell.accepted} delivered of "
            f"{WARM_UP} sent; first problem: {cell.first_problem or 'none reported'}"
        )


def _relay_log(relay: Child) -> list[str]:
    return [f"{relay.name}: {line}" for line in tail(relay.stderr_path, 8).splitlines()]


def _forwarder_log(forwarder: Child) -> list[str]:
    return tail(forwarder.stderr_path, 8).splitlines()


def _alive(*children: Child) -> Callable[[], bool]:
    return lambda: not any(child.exited() for child in children)


def _default_workers() -> int | None:
    """relay's own default for queue.workers, which the generated config leaves alone."""
    try:
        from relay.config import QueueSettings
    except Exception:  # relay mid-edit: the report just will not say
        return None
    return QueueSettings().workers


@dataclass(frozen=True)
class Targets:
    bare: Target
    forwarder: Target
    relay: Target
    pg: tuple[Target, BenchDatabase] | None  # the relay on PostgreSQL, if a server answered


async def _pg_cell(target: Target, database: BenchDatabase, size: int, body: bytes,
                   clients: int, limits: Limits) -> PgCell:
    before = await database.usage()
    cell = await run_cell(target, size, body, clients, limits)
    after = await database.usage()
    return PgCell(cell, after.sessions - before.sessions, after.server_cpu - before.server_cpu)


async def _load(args: argparse.Namespace, targets: Targets, results: Results,
                children: tuple[Child, ...], directory: Path) -> None:
    await _warm_up(targets.bare, "the bare sink", args.drain)
    await _warm_up(targets.forwarder, "the bare forwarder", args.drain)
    await _warm_up(targets.relay, "the relay", args.drain)
    if targets.pg is not None:
        await _warm_up(targets.pg[0], "the relay on PostgreSQL", args.drain)
    recorder = None
    if args.profile is not None:
        recorder = Recorder(targets.relay.server_pid, args.profile.resolve(),
                            directory / "py-spy.err")
        try:
            await recorder.start()
        except BenchError as exc:  # a report without a profile is still a report
            say(f"no profile: {exc}")
            results.profile = {"path": str(args.profile), "error": str(exc)}
            recorder = None
    limits = Limits(args.seconds, args.max_messages, args.drain)
    try:
        for size in args.sizes:
            body = message.body(size)
            for clients in CLIENTS:
                name = f"{size_name(size)}, clients={clients}"
                say(f"{name}: bare sink ...")
                bare_cell = await run_cell(targets.bare, size, body, clients, limits)
                say(f"{name}: forwarder ...")
                forwarder_cell = await run_cell(targets.forwarder, size, body, clients, limits)
                say(f"{name}: relay ...")
                relay_cell = await run_cell(targets.relay, size, body, clients, limits)
                pg_cell = None
                if targets.pg is not None:
                    say(f"{name}: relay on PostgreSQL ...")
                    pg_cell = await _pg_cell(*targets.pg, size, body, clients, limits)
                for child in children:
                    if child.exited():
                        raise child.failure("died during the benchmark")
                results.rows.append(
                    Row(size, clients, bare_cell, forwarder_cell, relay_cell, pg_cell))
    finally:
        if recorder is not None:
            await recorder.stop()
            results.profile = top(recorder.path)


async def _postgres_relay(
    stack: AsyncExitStack, directory: Path, upstream: Sink, certs: world.Certificates,
    dkim: bool,
) -> tuple[Target, BenchDatabase, Child] | None:
    """The relay on a fresh PostgreSQL database; None (and a word why) without a server."""
    database = BenchDatabase()
    try:
        await database.create()
    except BenchError as exc:
        say(f"no PostgreSQL row: {exc}")
        return None
    stack.push_async_callback(database.drop)
    port = free_port()
    config = world.write_config(directory, port, upstream.port, certs, database.url, "relay-pg",
                                dkim)
    if dkim:
        await world.make_dkim_key(config)
    say(f"seeding the PostgreSQL store {database.name} through the CLI ...")
    alias = await world.seed(config)
    child = world.relay_process("relay-pg", directory, config)
    await _started(stack, child, directory)
    await wait_listening(child, port)
    say(f"relay on PostgreSQL pid {child.pid} on 127.0.0.1:{port}")
    target = Target(port, upstream, child.pid, world.SELLER, alias, _alive(child, upstream))
    return target, database, child


async def _memory(
    args: argparse.Namespace, stack: AsyncExitStack, directory: Path, config: Path,
    port: int, upstream: Sink, alias: str, results: Results,
) -> Memory:
    say(f"peak RSS: fresh relay, {BURST_CLIENTS} x {size_name(BURST_SIZE)} at once ...")
    relay = world.relay_process("relay-rss", directory, config)
    await _started(stack, relay, directory)
    await wait_listening(relay, port)
    target = Target(port, upstream, relay.pid, world.SELLER, alias, _alive(relay, upstream))
    await _warm_up(target, "the fresh relay", args.drain)
    await asyncio.sleep(1.0)
    idle = memory(relay.pid).get("VmRSS", 0)
    body = message.body(BURST_SIZE)
    cell = await burst(target, BURST_SIZE, body, BURST_CLIENTS, max(args.drain, BURST_DRAIN))
    peak = memory(relay.pid).get("VmHWM", 0)
    if relay.exited():
        raise relay.failure("died during the RSS burst")
    await relay.stop()
    results.relay_log += _relay_log(relay)
    return Memory(BURST_CLIENTS, BURST_SIZE, idle, peak, cell)


async def run(args: argparse.Namespace, directory: Path) -> Results:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    began = time.monotonic()
    queue_workers = _default_workers()
    forwarder_workers = queue_workers or FORWARDER_WORKERS  # as many upstream connections
    results = Results(setup={
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "seconds": args.seconds, "max_messages": args.max_messages, "drain": args.drain,
        "sizes": list(args.sizes), "clients": list(CLIENTS), "queue_workers": queue_workers,
        "forwarder_workers": forwarder_workers, "dkim": args.dkim,
        "client": "aiosmtplib, one asyncio loop, one connection per client",
        "upstream": "aiosmtpd, STARTTLS and AUTH required (trustme certificates)",
        "forwarder": "aiosmtpd, handle_DATA queues in memory and answers 250; worker tasks "
                     "with one kept aiosmtplib connection each (STARTTLS, AUTH) send upstream; "
                     "no store, parsing or fsync",
        "store": "SQLite in a temporary directory"
                 + ("" if args.no_postgres else
                    f"; beside it a database of its own on {_where(ADMIN_URL)}"),
    })
    async with AsyncExitStack() as stack:
        say(f"working in {directory}")
        certs = world.make_certificates(directory)
        bare_sink = Sink("bare-sink", directory, [])
        upstream = world.upstream_sink(directory, certs)
        await _started(stack, bare_sink, directory)
        await _started(stack, upstream, directory)
        forwarder_child = world.forwarder(directory, upstream.port, certs, forwarder_workers)
        await _started(stack, forwarder_child, directory)
        port = free_port()
        config = world.write_config(directory, port, upstream.port, certs, dkim=args.dkim)
        if args.dkim:
            await world.make_dkim_key(config)
        say("seeding the store through the CLI ...")
        alias = await world.seed(config)
        relay_child = world.relay_process("relay", directory, config)
        await _started(stack, relay_child, directory)
        await wait_listening(relay_child, port)
        say(f"relay pid {relay_child.pid} on 127.0.0.1:{port}, buyer alias {alias}")
        bare = Target(bare_sink.port, bare_sink, bare_sink.pid, world.SELLER, alias,
                      _alive(bare_sink))
        forwarder = Target(forwarder_child.port, upstream, forwarder_child.pid, world.SELLER,
                           alias, _alive(forwarder_child, upstream))
        relay = Target(port, upstream, relay_child.pid, world.SELLER, alias,
                       _alive(relay_child, upstream))
        pg = None if args.no_postgres else await _postgres_relay(
            stack, directory, upstream, certs, args.dkim)
        children = (forwarder_child, relay_child) + (() if pg is None else (pg[2],))
        targets = Targets(bare, forwarder, relay, None if pg is None else (pg[0], pg[1]))
        await _load(args, targets, results, children, directory)
        results.relay_log = _relay_log(relay_child)
        if pg is not None:
            await pg[2].stop()
            results.relay_log += _relay_log(pg[2])
        await forwarder_child.stop()
        results.forwarder_log = _forwarder_log(forwarder_child)
        await relay_child.stop()
        if not args.no_memory:
            results.memory = await _memory(
                args, stack, directory, config, port, upstream, alias, results)
    results.elapsed = time.monotonic() - began
    return results


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    directory = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    try:
        results = asyncio.run(run(args, directory))
    except KeyboardInterrupt:
        say("interrupted; everything stopped and removed")
        return 130
    except asyncio.CancelledError:
        say("terminated; everything stopped and removed")
        return 143
    except BenchError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        kill_leftovers()
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(to_json(results), indent=2) if args.json else to_text(results))
    return 0
