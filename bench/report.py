"""The results: one JSON document, or a table with the targets spelled out."""

from __future__ import annotations

import math
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.load import Cell

KIB, MIB = 1024, 1024 * 1024
RATIO_TARGET = 0.5  # relay >= 0.5x bare at 5 KiB with 20 clients
RSS_TARGET = 3.0  # peak RSS <= 3x the bytes in flight
PG_TARGET = 0.8  # relay on PostgreSQL >= 0.8x relay on SQLite at 5 KiB with 20 clients
WIDTH = 100  # the text report's target width


def _ratio(a: Cell, b: Cell) -> float:
    return a.rate / b.rate if b.rate > 0 else float("nan")


def cpu_per_message(cell: Cell) -> float:
    """Milliseconds of the server process's CPU per delivered message: steadier than msg/s."""
    return cell.server_cpu * cell.seconds / cell.delivered * 1000 if cell.delivered else math.nan


@dataclass(frozen=True)
class PgCell:
    """The relay on a PostgreSQL store, and what the database server did meanwhile."""

    relay: Cell
    sessions: int  # connections the relay opened to its database during the cell
    server_cpu: float  # CPU seconds of the whole PostgreSQL server (all its databases)

    @property
    def sessions_per_message(self) -> float:
        return self.sessions / self.relay.delivered if self.relay.delivered else math.nan

    @property
    def server_cpu_per_message(self) -> float:
        """Milliseconds of PostgreSQL's CPU per delivered message."""
        if not self.relay.delivered:
            return math.nan
        return self.server_cpu / self.relay.delivered * 1000


@dataclass(frozen=True)
class Row:
    """One cell (size x clients) measured three ways, in this order."""

    size: int
    clients: int
    bare: Cell  # clients -> bare aiosmtpd sink
    forwarder: Cell  # clients -> bare forwarder -> upstream sink
    relay: Cell  # clients -> relay -> upstream sink
    pg: PgCell | None = None  # clients -> relay on PostgreSQL -> upstream sink

    @property
    def ratio(self) -> float:
        """relay / bare: the issue's target."""
        return _ratio(self.relay, self.bare)

    @property
    def forwarder_ratio(self) -> float:
        """forwarder / bare: what aiosmtpd + aiosmtplib alone cost."""
        return _ratio(self.forwarder, self.bare)

    @property
    def relay_forwarder_ratio(self) -> float:
        """relay / forwarder: what the relay's own work costs on top of that."""
        return _ratio(self.relay, self.forwarder)

    @property
    def pg_ratio(self) -> float:
        """relay on PostgreSQL / relay on SQLite."""
        return math.nan if self.pg is None else _ratio(self.pg.relay, self.relay)


@dataclass(frozen=True)
class Memory:
    clients: int
    message_size: int
    idle_rss: int
    peak_rss: int
    burst: Cell

    @property
    def in_flight(self) -> int:
        return self.clients * self.message_size

    @property
    def ratio(self) -> float:
        return self.peak_rss / self.in_flight


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: a figure to read, with no threshold
    detail: str


@dataclass
class Results:
    setup: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    memory: Memory | None = None
    relay_log: list[str] = field(default_factory=list)
    forwarder_log: list[str] = field(default_factory=list)  # its problems, if it had any
    profile: dict[str, Any] | None = None
    elapsed: float = 0.0


def size_name(size: int) -> str:
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} B"


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def _find(results: Results, size: int, clients: int) -> Row | None:
    return next((r for r in results.rows if r.size == size and r.clients == clients), None)


def _x(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def checks(results: Results) -> list[Check]:
    out: list[Check] = []
    row = _find(results, 5 * KIB, 20)
    if row is not None:
        out.append(Check(
            "relay >= 0.5x bare at 5 KiB, 20 clients", row.ratio >= RATIO_TARGET,
            f"{row.relay.rate:.1f} / {row.bare.rate:.1f} msg/s = {row.ratio:.2f}x",
        ))
        detail = (f"at 5 KiB, 20 clients: {row.relay.rate:.1f} / {row.forwarder.rate:.1f} "
                  f"msg/s = {_x(row.relay_forwarder_ratio)}")
        if not math.isnan(row.forwarder_ratio):
            below = "below" if row.forwarder_ratio < RATIO_TARGET else "not below"
            detail += (f"; the forwarder itself reaches {_x(row.forwarder_ratio)} bare, "
                       f"{below} the {RATIO_TARGET:g}x target")
        out.append(Check(
            "relay vs the bare forwarder (the ceiling for an aiosmtpd+aiosmtplib relay)", None,
            detail,
        ))
    if row is not None and row.pg is not None:
        out.append(Check(
            f"relay on PostgreSQL >= {PG_TARGET:g}x relay on SQLite at 5 KiB, 20 clients",
            row.pg_ratio >= PG_TARGET,
            f"{row.pg.relay.rate:.1f} / {row.relay.rate:.1f} msg/s = {_x(row.pg_ratio)}; "
            f"{row.pg.sessions_per_message:.3f} new connections per message",
        ))
    for size in sorted({r.size for r in results.rows}):
        one, many = _find(results, size, 1), _find(results, size, 20)
        if one is not None and many is not None:
            out.append(Check(
                f"no collapse at {size_name(size)}: relay 20 clients >= 1 client",
                many.relay.rate >= one.relay.rate,
                f"{many.relay.rate:.1f} vs {one.relay.rate:.1f} msg/s",
            ))
    m = results.memory
    if m is not None:
        out.append(Check(
            f"peak RSS <= {RSS_TARGET:g}x in flight ({m.clients} x {size_name(m.message_size)})",
            m.ratio <= RSS_TARGET and m.burst.complete,
            f"peak {_mib(m.peak_rss)} / {_mib(m.in_flight)} = {m.ratio:.2f}x "
            f"(idle {_mib(m.idle_rss)}; peak above idle {_mib(m.peak_rss - m.idle_rss)}"
            f"{'' if m.burst.complete else '; burst incomplete'})",
        ))
    return out


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {k: (_number(v) if isinstance(v, float) else v) for k, v in asdict(cell).items()}


def _pg_json(pg: PgCell | None) -> dict[str, Any] | None:
    if pg is None:
        return None
    return {"relay": _cell_json(pg.relay), "sessions": pg.sessions,
            "sessions_per_message": _number(pg.sessions_per_message),
            "server_cpu": _number(pg.server_cpu),
            "relay_cpu_ms_per_message": _number(cpu_per_message(pg.relay)),
            "server_cpu_ms_per_message": _number(pg.server_cpu_per_message)}


def to_json(results: Results) -> dict[str, Any]:
    m = results.memory
    return {
        "setup": results.setup,
        "cells": [
            {"size": r.size, "clients": r.clients, "bare": _cell_json(r.bare),
             "forwarder": _cell_json(r.forwarder), "relay": _cell_json(r.relay),
             "relay_cpu_ms_per_message": _number(cpu_per_message(r.relay)),
             "pg": _pg_json(r.pg),
             "ratio": _number(r.ratio),  # relay / bare, as before
             "ratios": {"relay/bare": _number(r.ratio),
                        "forwarder/bare": _number(r.forwarder_ratio),
                        "relay/forwarder": _number(r.relay_forwarder_ratio),
                        "pg/sqlite": _number(r.pg_ratio)}}
            for r in results.rows
        ],
        "memory": None if m is None else {
            "clients": m.clients, "message_size": m.message_size, "in_flight": m.in_flight,
            "idle_rss": m.idle_rss, "peak_rss": m.peak_rss, "ratio": m.ratio,
            "burst": _cell_json(m.burst),
        },
        "targets": [asdict(c) for c in checks(results)],
        "relay_log": results.relay_log,
        "forwarder_log": results.forwarder_log,
        "profile": results.profile,
        "elapsed_seconds": results.elapsed,
    }


def _notes(cell: Cell) -> str:
    notes = []
    if not cell.complete:
        notes.append(f"only {cell.delivered}/{cell.accepted} arrived")
    if cell.refused:
        notes.append(f"{cell.refused} refused")
    if cell.errors:
        notes.append(f"{cell.errors} errors")
    return ", ".join(notes)


def _shares(*values: float) -> str:
    return "/".join(f"{v:.0%}" for v in values)


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def _ratio_text(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _cells(row: Row) -> tuple[tuple[str, Cell], ...]:
    cells = (("bare", row.bare), ("forwarder", row.forwarder), ("relay", row.relay))
    return cells if row.pg is None else (*cells, ("relay on PostgreSQL", row.pg.relay))


def _target(check: Check) -> str:
    mark = "info" if check.ok is None else " OK " if check.ok else "FAIL"
    return textwrap.fill(f"[{mark}] {check.name}: {check.detail}", width=WIDTH,
                         initial_indent="  ", subsequent_indent=" " * 9)


def _pg_table(results: Results) -> list[str]:
    rows = [r for r in results.rows if r.pg is not None]
    if not rows:
        return []
    lines = [
        "",
        f"{'size':>7} {'clients':>7} {'sqlite msg/s':>12} {'pg msg/s':>9} {'pg/sqlite':>9} "
        f"{'relay cpu ms/msg':>16} {'pg server ms/msg':>16} {'new conn/msg':>12}",
    ]
    for r in rows:
        assert r.pg is not None
        cpu = f"{cpu_per_message(r.relay):.2f}/{cpu_per_message(r.pg.relay):.2f}"
        lines.append(
            f"{size_name(r.size):>7} {r.clients:>7} {r.relay.rate:>12.1f} "
            f"{r.pg.relay.rate:>9.1f} {_ratio_text(r.pg_ratio):>9} {cpu:>16} "
            f"{r.pg.server_cpu_per_message:>16.2f} {r.pg.sessions_per_message:>12.3f}"
        )
    lines += [
        "  (the same relay on a PostgreSQL store of its own on 127.0.0.1; relay cpu: the relay",
        "   process on SQLite/on PostgreSQL; pg server: every PostgreSQL process, all databases;",
        "   new conn: connections opened to the store during the cell, per message delivered)",
    ]
    return lines


def to_text(results: Results) -> str:
    s = results.setup
    lines = [
        f"relay benchmark: loopback, {s['cpus']} CPUs, Python {s['python']}, "
        f"{s['seconds']:g} s per cell",
        f"upstream connections: relay queue.workers={s['queue_workers']}, "
        f"forwarder workers={s['forwarder_workers']}"
        + (", relay DKIM-signs every message" if s.get("dkim") else ""),
        "",
        f"{'size':>7} {'clients':>7} {'bare msg/s':>10} {'forwarder msg/s':>15} "
        f"{'relay msg/s':>11} {'relay/bare':>10} {'forwarder/bare':>14} {'relay/forwarder':>15}",
    ]
    for r in results.rows:
        lines.append(
            f"{size_name(r.size):>7} {r.clients:>7} {r.bare.rate:>10.1f} "
            f"{r.forwarder.rate:>15.1f} {r.relay.rate:>11.1f} {_ratio_text(r.ratio):>10} "
            f"{_ratio_text(r.forwarder_ratio):>14} {_ratio_text(r.relay_forwarder_ratio):>15}"
        )
    lines += [
        "  (bare: an aiosmtpd sink that only counts; forwarder: the least an aiosmtpd+aiosmtplib",
        "   relay does, queue in memory and send upstream over STARTTLS+AUTH; relay: the real one,",
        "   through its store to the same upstream; all count messages delivered)",
        "",
        f"{'size':>7} {'clients':>7} {'relay p50/p99 ms':>16} {'cpu bare/fwd/relay':>18} "
        f"{'client cpu':>14}  notes",
    ]
    for r in results.rows:
        notes = "; ".join(f"{who}: {n}" for who, cell in _cells(r) if (n := _notes(cell)))
        latency = f"{_ms(r.relay.latency_p50_ms)}/{_ms(r.relay.latency_p99_ms)}"
        server = _shares(r.bare.server_cpu, r.forwarder.server_cpu, r.relay.server_cpu)
        client = _shares(r.bare.client_cpu, r.forwarder.client_cpu, r.relay.client_cpu)
        lines.append(
            f"{size_name(r.size):>7} {r.clients:>7} {latency:>16} {server:>18} {client:>14}  "
            f"{notes}".rstrip()
        )
    lines += [
        "  (cpu: share of one core used by the bare sink / the forwarder / the relay process;",
        "   client cpu: the same for the benchmark's client in each of the three runs)",
    ]
    lines += _pg_table(results)
    m = results.memory
    if m is not None:
        lines += [
            "",
            f"memory: relay idle RSS {_mib(m.idle_rss)}, peak RSS (VmHWM) {_mib(m.peak_rss)} "
            f"after {m.clients} concurrent {size_name(m.message_size)} messages "
            f"({m.burst.delivered}/{m.clients} delivered in {m.burst.seconds:.1f} s)",
        ]
    lines += ["", "targets:"]
    lines += [_target(c) for c in checks(results)]
    for row in results.rows:
        for who, cell in _cells(row):
            if cell.first_problem:
                lines.append(f"  first problem ({who}, {size_name(cell.size)}, "
                             f"{cell.clients} clients): {cell.first_problem}")
    if results.forwarder_log:
        lines += ["", "forwarder stderr, last lines:"]
        lines += [f"  {line[:200]}" for line in results.forwarder_log]
    if results.relay_log:
        lines += ["", "relay stderr, last lines (level warning):"]
        lines += [f"  {line[:200]}" for line in results.relay_log]
    profile = results.profile
    if profile is not None and "error" in profile:
        lines += ["", f"no profile: {profile['error']}"]
    elif profile is not None:
        lines += ["", f"profile of the relay during the load cells: {profile['path']} "
                      f"({profile['samples']} samples of the thread holding the GIL)"]
        for title, key in (("self", "self"), ("total", "total"), ("total, relay's code", "relay")):
            lines.append(f"  top by {title} time:")
            lines += [f"    {share:5.1%}  {frame}" for frame, share in profile[key]]
    lines += ["", f"finished in {results.elapsed:.0f} s"]
    return "\n".join(lines)
