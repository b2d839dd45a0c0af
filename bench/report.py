"""The results: one JSON document, or a table with the targets spelled out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.load import Cell

KIB, MIB = 1024, 1024 * 1024
RATIO_TARGET = 0.5  # relay >= 0.5x bare at 5 KiB with 20 clients
RSS_TARGET = 3.0  # peak RSS <= 3x the bytes in flight


@dataclass(frozen=True)
class Pair:
    size: int
    clients: int
    bare: Cell
    relay: Cell

    @property
    def ratio(self) -> float:
        return self.relay.rate / self.bare.rate if self.bare.rate > 0 else float("nan")


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
    ok: bool
    detail: str


@dataclass
class Results:
    setup: dict[str, Any]
    pairs: list[Pair] = field(default_factory=list)
    memory: Memory | None = None
    relay_log: list[str] = field(default_factory=list)
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


def _find(results: Results, size: int, clients: int) -> Pair | None:
    return next((p for p in results.pairs if p.size == size and p.clients == clients), None)


def checks(results: Results) -> list[Check]:
    out: list[Check] = []
    pair = _find(results, 5 * KIB, 20)
    if pair is not None:
        out.append(Check(
            "relay >= 0.5x bare at 5 KiB, 20 clients", pair.ratio >= RATIO_TARGET,
            f"{pair.relay.rate:.1f} / {pair.bare.rate:.1f} msg/s = {pair.ratio:.2f}x",
        ))
    for size in sorted({p.size for p in results.pairs}):
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


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(cell).items()}


def to_json(results: Results) -> dict[str, Any]:
    m = results.memory
    return {
        "setup": results.setup,
        "cells": [
            {"size": p.size, "clients": p.clients, "bare": _cell_json(p.bare),
             "relay": _cell_json(p.relay),
             "ratio": None if math.isnan(p.ratio) else p.ratio}
            for p in results.pairs
        ],
        "memory": None if m is None else {
            "clients": m.clients, "message_size": m.message_size, "in_flight": m.in_flight,
            "idle_rss": m.idle_rss, "peak_rss": m.peak_rss, "ratio": m.ratio,
            "burst": _cell_json(m.burst),
        },
        "targets": [asdict(c) for c in checks(results)],
        "relay_log": results.relay_log,
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


def _pair(a: float, b: float) -> str:
    return f"{a:.0%}/{b:.0%}"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def to_text(results: Results) -> str:
    s = results.setup
    lines = [
        f"relay benchmark: loopback, {s['cpus']} CPUs, Python {s['python']}, "
        f"{s['seconds']:g} s per cell, relay queue.workers={s['queue_workers']}",
        "",
        f"{'size':>7} {'clients':>7} {'bare msg/s':>10} {'relay msg/s':>11} {'ratio':>6} "
        f"{'relay p50/p99 ms':>16} {'cpu bare/relay':>14} {'client cpu':>10}  notes",
    ]
    for p in results.pairs:
        r = p.relay
        notes = "; ".join(
            f"{who}: {n}" for who, n in (("bare", _notes(p.bare)), ("relay", _notes(r))) if n
        )
        latency = f"{_ms(r.latency_p50_ms)}/{_ms(r.latency_p99_ms)}"
        lines.append(
            f"{size_name(p.size):>7} {p.clients:>7} {p.bare.rate:>10.1f} {r.rate:>11.1f} "
            f"{p.ratio:>6.2f} {latency:>16} {_pair(p.bare.server_cpu, r.server_cpu):>14} "
            f"{_pair(p.bare.client_cpu, r.client_cpu):>10}  {notes}".rstrip()
        )
    lines.append("  (cpu: share of one core used by the bare sink / the relay process, and by the"
                 " client in each cell)")
    m = results.memory
    if m is not None:
        lines += [
            "",
            f"memory: relay idle RSS {_mib(m.idle_rss)}, peak RSS (VmHWM) {_mib(m.peak_rss)} "
            f"after {m.clients} concurrent {size_name(m.message_size)} messages "
            f"({m.burst.delivered}/{m.clients} delivered in {m.burst.seconds:.1f} s)",
        ]
    lines += ["", "targets:"]
    lines += [f"  [{' OK ' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in checks(results)]
    for cell_pair in results.pairs:
        for who, cell in (("bare", cell_pair.bare), ("relay", cell_pair.relay)):
            if cell.first_problem:
                lines.append(f"  first problem ({who}, {size_name(cell.size)}, "
                             f"{cell.clients} clients): {cell.first_problem}")
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
