"""`relay serve|check-config|db upgrade`: the relay as a service, rather than its directory."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from relay.cli.command import Commands, Output, command, group, on_store

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.operations import Context


async def check_config(settings: Settings, args: argparse.Namespace) -> Output:
    """Loading the file has validated it; show what it means, secrets masked.

    The templates are read too: a broken one is found here, not at send time; and the
    DKIM key, as `relay serve` reads it.
    """
    from relay.config.render import as_json, as_text
    from relay.dkim_keys import load_key
    from relay.templates import check_directory

    check_directory(settings.templates.dir)
    load_key(settings.dkim)
    _check_checkpoint_key(settings.archive.checkpoint_key_file)

    return Output(as_json(settings), text=as_text(settings))


def _check_checkpoint_key(path: Path) -> None:
    from relay.archive.checkpoints import check_key_file
    from relay.config import ConfigError

    try:
        check_key_file(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"archive.checkpoint_key_file: {exc}") from None


async def db_upgrade(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import schema

    await schema.upgrade(ctx)
    return Output({"upgraded": True}, text="the store's schema is up to date")


async def serve(settings: Settings, args: argparse.Namespace) -> None:
    """Run the daemon until it is stopped; it logs, so nothing is printed here."""
    # Imported here: the composition root pulls in the whole relay, which no
    # directory command needs.
    app = importlib.import_module("relay.app")
    run: Callable[[Settings, Path | None], Awaitable[None]] = app.serve
    # The file, so that SIGHUP re-reads the same one.
    await run(settings, Path(args.config) if args.config else None)


def register(commands: Commands) -> None:
    command(commands, "serve", serve, "run the relay in the foreground", secrets=True)
    command(commands, "check-config", check_config,
            "validate the configuration and print it, secrets masked", secrets=True)
    database = group(commands, "db", "the store's schema")
    command(database, "upgrade", on_store(db_upgrade), "create or migrate the schema")
