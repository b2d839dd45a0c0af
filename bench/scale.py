"""`python -m bench.scale`: the log's and the archive's commands on 100,000 stored messages.

Fills a store through its own accept path (bench.scale_fill) with a generated
marketplace history (bench.scale_world), then runs each command as the real
CLI, `relay --config ... --json ...`, several times: wall time (median and
fastest) and the process's peak RSS (bench.scale_run). Prints the query plans
behind the log's commands (bench.scale_plans) with the indexes they use.
SQLite in a temporary directory; PostgreSQL in a database of its own on
$RELAY_BENCH_POSTGRES_URL (default: the local server), dropped at the end.
Not a test: it prints figures and holds no thresholds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.postgres import BenchDatabase
from bench.procs import BenchError
from bench.scale_fill import DOMAIN, Filled, fill
from bench.scale_plans import Plan, Subjects, explain
from bench.scale_run import run
from bench.scale_world import World, generate
from relay.store import Store

MIB = 1024 * 1024
Check = Callable[[bytes, Path], str]  # what a run produced, in a few words; raises if wrong


@dataclass(frozen=True)
class Command:
    name: str
    words: list[str]
    check: Check


@dataclass
class Timed:
    name: str
    words: list[str]
    seconds: float | None  # median of the runs; None: not run
    fastest: float | None
    peak_rss: int | None  # bytes, the largest of the runs
    detail: str


@dataclass
class StoreResult:
    store: str
    world: dict[str, Any]
    fill: Filled
    timed: list[Timed] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)


def say(text: str) -> None:
    print(f"bench.scale: {text}", file=sys.stderr, flush=True)


def _listed(out: bytes, _output: Path) -> str:
    rows = json.loads(out)
    if not isinstance(rows, list):
        raise BenchError(f"message list printed {type(rows).__name__}, not a list")
    return f"{len(rows)} messages"


def _stats(out: bytes, _output: Path) -> str:
    shown = json.loads(out)
    return (f"{shown['messages']} counted, {shown['answered_within_24h']} within 24 h, "
            f"{shown['pending']} pending")


def _verified(out: bytes, _output: Path) -> str:
    shown = json.loads(out)
    return json.dumps(shown)[:80]


def _exported(_out: bytes, output: Path) -> str:
    data = output.read_bytes()
    count = data.count(b"\nFrom ") + data.startswith(b"From ")
    return f"{count} messages, {len(data) / MIB:.1f} MiB mbox"


def _deep(world: World, keep: Callable[[int], bool]) -> str:
    """A message a tenth of the way into the history (so most of the view lies after it)."""
    chosen = [m for m in world.messages if keep(m.relationship)]
    return chosen[len(chosen) // 10].id


def commands(world: World, output: Path) -> list[Command]:
    seller = world.hot_seller
    buyer = world.buyer_of_most()
    pair_buyer, pair_seller = world.hot_relationship
    of_seller = {i for i, (_, s) in enumerate(world.relationships) if s == seller}
    of_buyer = {i for i, (b, _) in enumerate(world.relationships) if b == buyer}
    return [
        Command("startup (alias show)", ["alias", "show", "--buyer", buyer, "--seller",
                                         world.relationships[min(of_buyer)][1]],
                lambda out, _o: "one relationship"),
        Command("message list", ["message", "list"], _listed),
        Command("message list --before (deep)",
                ["message", "list", "--before", _deep(world, lambda _r: True)], _listed),
        Command("message list --seller", ["message", "list", "--seller", seller], _listed),
        Command("message list --seller --before (deep)",
                ["message", "list", "--seller", seller, "--before",
                 _deep(world, of_seller.__contains__)], _listed),
        Command("message list --buyer", ["message", "list", "--buyer", buyer], _listed),
        Command("message list --buyer --before (deep)",
                ["message", "list", "--buyer", buyer, "--before",
                 _deep(world, of_buyer.__contains__)], _listed),
        Command("stats response-time", ["stats", "response-time", "--seller", seller], _stats),
        Command("archive verify", ["archive", "verify"], _verified),
        Command("archive export", ["archive", "export", "--buyer", pair_buyer, "--seller",
                                   pair_seller, "--output", str(output)], _exported),
    ]


def measure(config: Path, world: World, directory: Path, repeat: int) -> list[Timed]:
    output = directory / "export.mbox"
    out: list[Timed] = []
    for command in commands(world, output):
        runs = [run(config, command.words, directory) for _ in range(repeat)]
        detail = command.check(runs[-1].stdout, output)
        seconds = [r.seconds for r in runs]
        out.append(Timed(command.name, command.words, statistics.median(seconds), min(seconds),
                         max(r.peak_rss for r in runs), detail))
        say(f"  {command.name}: {statistics.median(seconds):.2f} s, "
            f"{max(r.peak_rss for r in runs) / MIB:.0f} MiB ({detail})")
    return out


def _config(directory: Path, url: str) -> Path:
    path = directory / "relay.toml"
    path.write_text(
        f"[store]\nurl = {json.dumps(url)}\n\n[aliases]\ndomain = {json.dumps(DOMAIN)}\n\n"
        '[logging]\nlevel = "warning"\n', encoding="utf-8")
    return path


async def _prepare(url: str, world: World, postgres: bool) -> tuple[Filled, list[Plan]]:
    store = Store(url, 35, DOMAIN)
    try:
        filled = await fill(store, world, say)
        if postgres:
            # What autovacuum does after this many inserts, done now rather than
            # whenever it wakes; SQLite keeps no statistics unless asked and the
            # relay never asks, so it plans as a live SQLite store does.
            await store.database.run_connection(lambda c: c.exec_driver_sql("ANALYZE"))
        pair = world.hot_relationship
        index = world.relationships.index(pair)
        of_pair = [m for m in world.messages if m.relationship == index]
        middle = of_pair[len(of_pair) // 2]
        subjects = Subjects(world.hot_seller, world.quiet_seller(), world.buyer_of_most(),
                            pair, (middle.at, middle.id), _deep(world, lambda _r: True))
        return filled, await explain(store, subjects)
    finally:
        await store.close()


def _world_summary(world: World) -> dict[str, Any]:
    pair = world.hot_relationship
    index = world.relationships.index(pair)
    seller = world.hot_seller
    seller_pairs = {i for i, (_, s) in enumerate(world.relationships) if s == seller}
    return {
        "messages": len(world.messages), "sellers": len(world.sellers),
        "buyers": len(world.buyers), "relationships": len(world.relationships),
        "hot_seller": seller,
        "hot_seller_messages": sum(m.relationship in seller_pairs for m in world.messages),
        "exported_relationship": list(pair),
        "exported_messages": sum(m.relationship == index for m in world.messages),
    }


def one_store(backend: str, world: World, repeat: int) -> StoreResult:
    directory = Path(tempfile.mkdtemp(prefix=f"relay-bench-scale-{backend}-"))
    database = BenchDatabase() if backend == "postgresql" else None
    try:
        if database is not None:
            asyncio.run(database.create())
            url = database.url
        else:
            url = f"sqlite+aiosqlite:///{directory / 'relay.db'}"
        say(f"{backend}: filling {len(world.messages)} messages ...")
        filled, plans = asyncio.run(_prepare(url, world, database is not None))
        say(f"{backend}: filled at {filled.per_second:.0f} messages/s; running the CLI ...")
        result = StoreResult(backend, _world_summary(world), filled, plans=plans)
        result.timed = measure(_config(directory, url), world, directory, repeat)
        return result
    finally:
        if database is not None:
            asyncio.run(database.drop())
        shutil.rmtree(directory, ignore_errors=True)


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def to_text(results: list[StoreResult], setup: dict[str, Any]) -> str:
    lines = [f"relay scale benchmark: {setup['cpus']} CPUs, Python {setup['python']}, "
             f"{setup['repeat']} runs per command (median; fastest; peak RSS of the largest)"]
    for r in results:
        w, f = r.world, r.fill
        lines += [
            "",
            f"{r.store}: {w['messages']} messages, {w['relationships']} relationships, "
            f"{w['sellers']} sellers, {w['buyers']} buyers; seller {w['hot_seller']} has "
            f"{w['hot_seller_messages']}; exported pair {'/'.join(w['exported_relationship'])} "
            f"has {w['exported_messages']}",
            f"  filled through accept() at {f.per_second:.0f} messages/s "
            f"({f.seconds:.1f} s, {f.archive_bytes / MIB:.0f} MiB archived)",
            f"  {'command':<40} {'median s':>9} {'fastest s':>9} {'peak RSS':>9}  result",
        ]
        for t in r.timed:
            rss = "-" if t.peak_rss is None else f"{t.peak_rss / MIB:.0f} MiB"
            lines.append(f"  {t.name:<40} {_cell(t.seconds, '9.2f'):>9} "
                         f"{_cell(t.fastest, '9.2f'):>9} {rss:>9}  {t.detail}")
        how = "EXPLAIN" if r.store == "postgresql" else "EXPLAIN QUERY PLAN"
        lines.append(f"  query plans ({how}):")
        for p in r.plans:
            scans = ", ".join(p.full_scans) or "none"
            lines.append(f"  - {p.name}: indexes {', '.join(p.indexes) or 'none'}; "
                         f"full scans: {scans}")
            lines += [f"      {line}" for line in p.lines]
    return "\n".join(lines)


def to_json(results: list[StoreResult], setup: dict[str, Any]) -> dict[str, Any]:
    return {"setup": setup, "stores": [asdict(r) for r in results]}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000,
                        help="messages to fill the store with (default 100000)")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    if args.messages < 50 or args.repeat < 1:
        parser.error("--messages must be 50 or more and --repeat 1 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    world = generate(args.messages, datetime.now(UTC))
    backends = ("sqlite", "postgresql") if args.store == "both" else (args.store,)
    setup = {"cpus": os.cpu_count(), "python": platform.python_version(),
             "messages": args.messages, "repeat": args.repeat}
    try:
        results = [one_store(backend, world, args.repeat) for backend in backends]
    except BenchError as exc:
        say(f"error: {exc}")
        return 1
    print(json.dumps(to_json(results, setup), indent=2, default=str) if args.json
          else to_text(results, setup))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
