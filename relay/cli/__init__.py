"""`relay`: the parser, --json, one-line errors and the exit statuses of SPEC §6.

Each command module adds its subparsers with `register(commands)`; the handler
it sets returns an `Output`, and only this module prints or picks an exit status.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relay import __version__
from relay.cli import archive, cases, directory, dkim, messages, queue, send, service, stats
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


def exit_status(exc: Exception) -> int | None:
    """The exit status for an error an operation or the configuration raised (SPEC §6)."""
    from relay.config import ConfigError  # imported on use: only a failing command pays

    # First match wins, so subclasses come before their bases.
    for kind, status in (
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
    ):
        if isinstance(exc, kind):
            return status
    return None


EXIT_STATUSES = """\
exit statuses:
  0  success
  1  a negative answer: a conflict with what is stored (an order that belongs to
     another seller, an address another seller has, a second case not closed, a
     change of case state that is not allowed), or a store that cannot be
     reached or failed (trying again may work)
  2  usage or configuration error, including a store without its schema
     (run `relay db upgrade`)
  3  refused by a rule or by policy (revoking a seller's primary address)
  4  not found
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="relay", description="The marketplace mail relay.",
                    epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"relay {__version__}",
                        help="print the version and exit")
    add_globals(parser, top=True)
    parser.set_defaults(handler=None, usage_of=parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    service.register(commands)
    directory.register(commands)
    cases.register(commands)
    queue.register(commands)
    messages.register(commands)
    stats.register(commands)
    send.register(commands)
    archive.register(commands)
    dkim.register(commands)
    return parser


def _one_line(exc: BaseException) -> str:
    text = exc.reply.text if isinstance(exc, Refused | Deferred) else str(exc)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _fail(message: str, status: int) -> int:
    print(f"relay: error: {message}", file=sys.stderr)
    return status


def _print(output: Output, as_json: bool) -> int:
    stream = sys.stderr if output.stderr else sys.stdout
    if as_json:
        print(to_json(output.data), file=stream)
    else:
        text = to_text(output.data) if output.text is None else output.text
        if text:
            print(text, file=stream)
    return output.status


def _run(args: argparse.Namespace) -> int:
    handler: Handler | None = args.handler
    if handler is None:  # `relay` or `relay seller` alone: say what could follow
        usage_of: argparse.ArgumentParser = args.usage_of
        usage_of.print_help(sys.stderr)
        return USAGE
    # Imported here: `relay --help` and `--version` pay for neither.
    import asyncio

    from relay.config import load

    settings = load(Path(args.config) if args.config else None, secrets=args.secrets)

    output = asyncio.run(handler(settings, args))
    return SUCCESS if output is None else _print(output, args.json)


def _reader_gone() -> int:
    """`relay queue list | head`: the reader has all it wanted, so end quietly.

    Python would report the pipe again when it flushes stdout on exit; point
    stdout at /dev/null first (the Python docs' recipe for SIGPIPE).
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return NEGATIVE


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
    except BrokenPipeError:
        return _reader_gone()
    except Exception as exc:
        status = exit_status(exc)
        if status is not None:
            return _fail(_one_line(exc), status)
        # Last resort: a bug, worded as one line all the same.
        message, name = _one_line(exc), type(exc).__name__
        return _fail(message if name in message else f"{message} ({name})", NEGATIVE)
