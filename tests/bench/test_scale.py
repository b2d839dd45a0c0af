"""The scale benchmark runs end to end on a small store and reports every command.

A smoke run (a few hundred messages, one run per command): not a measurement,
only proof that the harness still fills a store, drives the real CLI and reads
the query plans, so the benchmark cannot rot unseen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
# What the README's table reports: a command dropped from the harness fails here.
COMMANDS = [
    "startup (alias show)", "message list", "message list --before (deep)",
    "message list --seller", "message list --seller --before (deep)", "message list --buyer",
    "message list --buyer --before (deep)", "stats response-time", "archive verify",
    "archive export",
]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_scale_benchmark_reports_every_command(
    backend: str, request: pytest.FixtureRequest,
) -> None:
    if backend == "postgresql":
        request.getfixturevalue("postgres_url")  # skips, or fails, as other PostgreSQL tests do
    env = {**os.environ, "RELAY_BENCH_POSTGRES_URL": PG_URL}
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--messages", "300", "--store", backend,
         "--repeat", "1", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    (store,) = json.loads(done.stdout)["stores"]
    assert store["store"] == backend
    assert store["fill"]["messages"] == store["world"]["messages"] > 250

    timed = {t["name"]: t for t in store["timed"]}
    assert list(timed) == COMMANDS
    for name, t in timed.items():
        assert t["seconds"] is not None, f"{name}: {t['detail']}"
        assert t["seconds"] > 0
        assert t["peak_rss"] > 10 * 1024 * 1024, name  # a Python process, not a guess
    assert timed["message list"]["detail"].endswith("messages")
    assert "counted" in timed["stats response-time"]["detail"]
    assert '"ok": true' in timed["archive verify"]["detail"]
    assert timed["archive export"]["detail"].split()[0] != "0"  # messages in the mbox

    plans = {p["name"]: p for p in store["plans"]}
    assert set(plans) >= {"message list", "message list --seller", "stats response-time",
                          "archive export (page)", "archive verify (page)"}
    for name, plan in plans.items():
        # On a few hundred rows a full scan is the right plan: which indexes serve is
        # the full run's question; here the plan must only be read and summarised.
        assert plan["lines"], name
        assert plan["indexes"] or plan["full_scans"], name
