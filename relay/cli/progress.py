"""A progress bar for long commands (SPEC §4: purge, export): on a terminal only.

Drawn by tqdm on stderr; nothing is drawn under --json or when stderr is not a
terminal, so pipes, logs and cron mail stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from tqdm import tqdm


class Bar:
    """`relay.operations.archive.Progress` drawn by tqdm."""

    def __init__(self, label: str, unit: str, quiet: bool) -> None:
        self._label, self._unit, self._quiet = label, unit, quiet
        self._bar: tqdm[NoReturn] | None = None

    def start(self, total: int) -> None:
        if self._quiet:
            return
        from tqdm import tqdm  # imported on use: only a command drawing a bar pays

        self._bar = tqdm(total=total, desc=self._label, unit=self._unit, file=sys.stderr,
                         dynamic_ncols=True, leave=False)

    def advance(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def quiet(as_json: bool) -> bool:
    """No bar under --json or when stderr is not a terminal."""
    return as_json or not sys.stderr.isatty()


@contextmanager
def bar(label: str, unit: str, *, as_json: bool) -> Iterator[Bar]:
    """A bar for one operation, closed (and wiped from the terminal) when it ends."""
    drawn = Bar(label, unit, quiet(as_json))
    try:
        yield drawn
    finally:
        drawn.close()
