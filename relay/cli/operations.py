"""`relay check-config|db upgrade|serve`: running the relay rather than its directory."""

from __future__ import annotations

import argparse
import importlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from relay.cli.command import Commands, Output, command, group, open_store
from relay.config import Settings, effective

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def toml_text(config: Mapping[str, Mapping[str, Any]]) -> str:
    """TOML-ish tables; JSON scalars and arrays are valid TOML values. Unset keys are left out."""
    blocks = []
    for section, table in config.items():
        lines = [f"[{_key(section)}]"]
        lines += [f"{_key(k)} = {json.dumps(v)}" for k, v in table.items() if v is not None]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


async def check_config(settings: Settings, args: argparse.Namespace) -> Output:
    """Loading the file has validated it; show what it means, secrets masked."""
    config = effective(settings)
    return Output(config, text=toml_text(config))


async def db_upgrade(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        await store.upgrade()
    return Output({"upgraded": True}, text="the store's schema is up to date")


async def serve(settings: Settings, args: argparse.Namespace) -> None:
    """Run the daemon until it is stopped; it logs, so nothing is printed here."""
    # Imported here: the composition root pulls in the whole relay, which no
    # directory command needs.
    app = importlib.import_module("relay.app")
    run: Callable[[Settings], Awaitable[None]] = app.serve
    await run(settings)


def register(commands: Commands) -> None:
    command(commands, "serve", serve, "run the relay in the foreground")
    command(commands, "check-config", check_config,
            "validate the configuration and print it, secrets masked")
    database = group(commands, "db", "the store's schema")
    command(database, "upgrade", db_upgrade, "create or migrate the schema")
