"""Running `relay` in-process for the CLI tests, and checking its one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relay.cli import main

WriteConfig = Callable[..., Path]  # the write_config fixture: (url, extra TOML) -> path


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Relay:
    """Runs `relay --config PATH ARGS...` and captures what it printed."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = config
        self._capsys = capsys

    def __call__(self, *args: str, config: bool = True) -> Result:
        argv = ["--config", str(self.config), *args] if config else list(args)
        status = main(argv)
        captured = self._capsys.readouterr()
        return Result(status, captured.out, captured.err)

    def ok(self, *args: str) -> Any:
        """Run with --json, insist on success, return the document."""
        result = self(*args, "--json")
        assert (result.status, result.err) == (0, "")
        return result.json()


def one_line_error(result: Result, status: int) -> str:
    """The error text of a failed run, after checking it is one `relay: ` line and nothing else."""
    assert result.status == status, result
    assert result.out == ""
    assert result.err.endswith("\n")
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("relay: ")
    assert "Traceback" not in result.err
    return lines[0]
