"""`relay`: the parser, --json, one-line errors and the exit statuses of SPEC §6.

Each command module adds its subparsers with `register(commands)`; the handler
it sets returns an `Output`, and only this module prints or picks an exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from relay.cli import directory, operations, queue
from relay.cli.command import (
    Handler,
    Output,
    Parser,
    ParserExit,
    UsageError,
    add_globals,
    to_json,
    to_text,
)
from relay.config import ConfigError, load
from relay.errors import (
    Conflict,
    Invalid,
    NotAllowed,
    NotFound,
    RelayError,
    SchemaNotReady,
    StoreUnavailable,
)
from relay.replies import Deferred, Refused

SUCCESS, NEGATIVE, USAGE, REFUSED, NOT_FOUND = 0, 1, 2, 3, 4

# First match wins, so subclasses come before their bases.
EXIT_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, USAGE),
    (SchemaNotReady, USAGE),
    (Invalid, USAGE),
    (NotFound, NOT_FOUND),
    (Conflict, NEGATIVE),
    (NotAllowed, REFUSED),
    (Refused, REFUSED),
    (Deferred, REFUSED),
    (StoreUnavailable, NEGATIVE),
    (RelayError, NEGATIVE),
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="relay", description="The marketplace mail relay.")
    add_globals(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    operations.register(commands)
    directory.register(commands)
    queue.register(commands)
    return parser


def _one_line(exc: BaseException) -> str:
    text = exc.reply.text if isinstance(exc, Refused | Deferred) else str(exc)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _fail(message: str, status: int) -> int:
    print(f"relay: error: {message}", file=sys.stderr)
    return status


def _print(output: Output, as_json: bool) -> int:
    if as_json:
        print(to_json(output.data))
    else:
        text = to_text(output.data) if output.text is None else output.text
        if text:
            print(text)
    return output.status


def _run(args: argparse.Namespace) -> int:
    settings = load(Path(args.config) if args.config else None)
    handler: Handler = args.handler
    output = asyncio.run(handler(settings, args))
    return SUCCESS if output is None else _print(output, args.json)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr, never a traceback."""
    try:
        return _run(build_parser().parse_args(argv))
    except ParserExit as exc:
        return exc.status
    except UsageError as exc:
        return _fail(str(exc), USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:
        for kind, status in EXIT_STATUS:
            if isinstance(exc, kind):
                return _fail(_one_line(exc), status)
        # Last resort, e.g. an unreachable or unmigrated database.
        message, name = _one_line(exc), type(exc).__name__
        return _fail(message if name in message else f"{message} ({name})", NEGATIVE)
