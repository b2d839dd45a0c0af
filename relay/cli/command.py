"""What a command is: a typed async handler, the output it returns, and the context it opens.

Kept apart from `relay.cli` so that command modules can import it without a cycle.
Command modules import the operations, the configuration and the store when a
command runs, not at import: `relay --help` and `--version` pay for none of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.operations import Context


@dataclass(frozen=True)
class Output:
    """What a command prints: `data` with --json, else `text` (default: `key: value` lines).

    `status` is the exit status of a command whose answer is negative (SPEC §6: 1).
    `stderr`: printed there, for a command whose stdout carries its product (an mbox).
    """

    data: Any
    text: str | None = None
    status: int = 0
    stderr: bool = False


# Strings, so that Settings and Context need not be imported to build the parser.
Handler: TypeAlias = (
    "Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, Output | None]]"
)
# A command that works on the store: it is given an open operations context.
StoreHandler: TypeAlias = "Callable[[Context, argparse.Namespace], Coroutine[Any, Any, Output]]"


def on_store(handler: StoreHandler) -> Handler:
    """The handler, run inside `operations.connect(settings)`."""

    async def run(settings: Settings, args: argparse.Namespace) -> Output:
        from relay.operations import connect

        async with connect(settings) as ctx:
            return await handler(ctx, args)

    return run


class UsageError(Exception):
    """argparse's complaint, raised instead of printed so that it stays one line."""


class ParserExit(Exception):
    """argparse finished on its own (--help): leave main() with this status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that neither prints the usage block nor calls sys.exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise ParserExit(status)


Commands: TypeAlias = "argparse._SubParsersAction[Parser]"  # what add_subparsers() returns


def add_globals(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--config and --json, accepted before the command and after it.

    Below the top level the defaults are SUPPRESS, so an option given before the
    command is not reset by the subcommand's parser.
    """
    parser.add_argument(
        "--config", metavar="PATH", default=None if top else argparse.SUPPRESS,
        help="configuration file (default: $RELAY_CONFIG, else config/relay.toml)",
    )
    parser.add_argument(
        "--json", action="store_true", default=False if top else argparse.SUPPRESS,
        help="print one JSON document on stdout",
    )


def group(commands: Commands, name: str, help: str) -> Commands:
    """A command with subcommands, such as `seller` (add, authorize, revoke)."""
    parser = commands.add_parser(name, help=help, description=help)
    add_globals(parser, top=False)
    # Without an action, `relay seller` prints this parser's help (see relay.cli).
    parser.set_defaults(handler=None, usage_of=parser)
    return parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", title="actions")


def command(commands: Commands, name: str, handler: Handler, help: str,
            *, secrets: bool = False) -> Parser:
    """`secrets`: the command needs the upstream password (it delivers, or checks that
    it can); the others run without it, also beside a stopped service."""
    parser = commands.add_parser(name, help=help, description=help)
    add_globals(parser, top=False)
    parser.set_defaults(handler=handler, secrets=secrets)
    return parser


def address(value: str) -> str:
    """An argparse type: a bad address is a usage error worded as a sentence."""
    from relay.addresses import normalise_address

    try:
        return normalise_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def nonempty(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 0 or more")
    return int(value)


def record(value: Any) -> Output:
    """A record (a dataclass of relay.model) as an object of its fields."""
    return Output(dataclasses.asdict(value))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()  # RFC 3339
    raise TypeError(f"cannot print a {type(value).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=_plain)


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(v) for v in value) or "-"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def to_text(data: Any) -> str:
    """The human form: `key: value` lines; a list of objects as blocks."""
    if isinstance(data, Mapping):
        return "\n".join(f"{key}: {_scalar(value)}" for key, value in data.items())
    if isinstance(data, list | tuple) and all(isinstance(d, Mapping) for d in data):
        return "\n\n".join(to_text(d) for d in data)
    return _scalar(data)


def stamp(moment: datetime) -> str:
    """A time in a table: to the second, in UTC, RFC 3339 with a Z."""
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def columns(rows: list[tuple[Any, ...]]) -> str:
    """Rows under their header, each column as wide as its widest cell; the last runs on."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                   row[-1]]).rstrip()
        for row in cells
    )
