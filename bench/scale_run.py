"""One real `relay` CLI run: its wall time and its own peak RSS, as the kernel counted them.

Peak RSS is GNU time's %M: the ru_maxrss that wait4() reports for the relay
process, its high-water mark over the whole run. Not wait4() on a child of
this process: Linux keeps the pre-exec image's high-water mark in ru_maxrss,
and that image is a copy of this benchmark after a fill (about 110 MiB), so
every command would read at least that. GNU time forks the relay from a 1 MiB
process instead. Not a RUSAGE_CHILDREN delta (a maximum over all children
reaped so far), not polling (it misses short peaks). The time is wall clock
from exec to exit, interpreter start included; the benchmark also times a
trivial command to show that part.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError, child_env

TIMEOUT = 900.0  # a run past this fails the benchmark
TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss: int  # bytes
    stdout: bytes


def gnu_time() -> str:
    found = shutil.which(TIME)
    if found is None:
        raise BenchError(f"{TIME} (GNU time, Debian package `time`) measures peak RSS; "
                         "install it")
    return found


def run(config: Path, words: list[str], directory: Path) -> Run:
    rss_path = directory / "cli.maxrss"
    argv = [gnu_time(), "--format", "%M", "--output", str(rss_path),
            sys.executable, "-m", "relay", "--config", str(config), "--json", *words]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=directory, env=child_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`relay --json {' '.join(words)}` took over {TIMEOUT:.0f} s") from exc
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        raise BenchError(f"`relay --json {' '.join(words)}` exited {done.returncode}: "
                         f"{detail[-500:]}")
    # GNU time writes "Command exited ..." first when the command fails; not here.
    kib = int(rss_path.read_text(encoding="utf-8").split()[-1])
    return Run(seconds, kib * 1024, done.stdout)
