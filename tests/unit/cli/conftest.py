"""Fixtures for the CLI tests: a config file in tmp_path and a runner against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.cli.runner import Relay, WriteConfig

DOMAIN = "relay.example"


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write relay.toml for a store URL, with any extra TOML appended."""

    def write(url: str, extra: str = "") -> Path:
        path = tmp_path / "relay.toml"
        text = f'[store]\nurl = {json.dumps(url)}\n\n[aliases]\ndomain = "{DOMAIN}"\n'
        path.write_text(text + extra, encoding="utf-8")
        return path

    return write


@pytest.fixture
def relay(store_url: str, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]) -> Relay:
    """The CLI against an empty, migrated store on each backend."""
    return Relay(write_config(store_url), capsys)
