"""Optional: py-spy samples the relay during the load cells; the top frames are reported."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

from bench.procs import BenchError

_LINE = re.compile(r":\d+\)$")
# Frames on (nearly) every stack, which say nothing about where the time goes.
_PLUMBING = re.compile(
    r"\((<frozen runpy>|asyncio/(runners|base_events|events)\.py|threading\.py"
    r"|relay/__main__\.py|relay/cli/__init__\.py)\)$"
)


def py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if found is None:
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    return found


class Recorder:
    """`py-spy record --format raw` on one pid until stopped."""

    def __init__(self, pid: int, path: Path, stderr: Path) -> None:
        self.pid = pid
        self.path = path
        self._stderr = stderr
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self._stderr.open("wb") as err:
            self._process = await asyncio.create_subprocess_exec(
                py_spy(), "record", "--pid", str(self.pid), "--output", str(self.path),
                "--format", "raw", "--rate", "200", "--nonblocking", "--gil",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=err, start_new_session=True,
            )
        await asyncio.sleep(0.5)
        if self._process.returncode is not None:
            raise BenchError(f"py-spy failed: {self._stderr.read_text(errors='replace')[-500:]}")

    async def stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.wait_for(process.wait(), 30.0)
        except TimeoutError:
            with suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def top(path: Path, n: int = 12) -> dict[str, Any]:
    """Shares of samples by leaf frame (self), by any frame on the stack (total), and
    the same for relay's own frames."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    with suppress(OSError), path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_LINE.sub(")", f) for f in stack.split(";")]
            samples += count
            own[frames[-1]] += count
            for frame in set(frames):
                total[frame] += count
    if not samples:
        return {"path": str(path), "samples": 0, "self": [], "total": [], "relay": []}
    return {
        "path": str(path),
        "samples": samples,
        "self": [(f, c / samples) for f, c in own.most_common(n)],
        "total": [(f, c / samples) for f, c in total.most_common()
                  if not _PLUMBING.search(f)][:n],
        "relay": [(f, c / samples) for f, c in total.most_common()
                  if f.endswith(".py)") and "(relay/" in f and not _PLUMBING.search(f)][:n],
    }
