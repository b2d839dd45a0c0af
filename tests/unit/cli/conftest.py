"""Fixtures for the CLI tests: a config file in tmp_path and a runner against it."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, _admin
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A reachable store with no schema yet, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'relay.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips, or fails, as the other PostgreSQL tests do
    name = f"relay_empty_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
