"""The CLI next to a relay under test: a config on the world's store, and a run in a thread."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from relay.cli import main
from tests.smtp.conftest import World
from tests.unit.cli.runner import Result


def cli_config(tmp_path: Path, world: World, extra: str = "") -> Path:
    """A relay.toml for the CLI on the world's store and alias domain, plus `extra` TOML."""
    settings = world.relay.settings
    path = tmp_path / "cli.toml"
    path.write_text(f"[store]\nurl = {json.dumps(settings.store.url)}\n"
                    f"[aliases]\ndomain = {json.dumps(settings.aliases.domain)}\n{extra}",
                    encoding="utf-8")
    return path


async def run_relay(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> Result:
    """`relay --config CONFIG ARGS...` in a thread: it runs its own event loop."""
    status = await asyncio.to_thread(main, ["--config", str(config), *args])
    captured = capsys.readouterr()
    return Result(status, captured.out, captured.err)
