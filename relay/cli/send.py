"""`relay send`: parse, call relay.operations.send, print."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from relay.cli.command import Commands, Output, command, nonempty, on_store

if TYPE_CHECKING:
    from relay.operations import Context


def variable(value: str) -> tuple[str, str]:
    """An argparse type for --var K=V."""
    key, sep, text = value.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=VALUE")
    return key, text


def _quiet() -> None:
    """The pipeline logs as a daemon would; the command's answer is what it prints.

    Without this, its info lines would land in stdout next to --json's document.
    """
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


async def send(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import send as ops

    _quiet()

    sent = await ops.send_template(ctx, seller=args.seller, order=args.order,
                                   template=args.template, variables=dict(args.var))
    return Output({"message": sent.message, "status": sent.status},
                  text=f"message {sent.message} {sent.status}")


def register(commands: Commands) -> None:
    parser = command(commands, "send", on_store(send),
                     "send a seller's message to an order's buyer from a template")
    parser.add_argument("--seller", required=True, type=nonempty, metavar="ID",
                        help="the seller who sends it, from their primary address")
    parser.add_argument("--order", required=True, type=nonempty, metavar="ORDER",
                        help="the seller's order; its buyer receives the message")
    parser.add_argument("--template", required=True, type=nonempty, metavar="NAME",
                        help="NAME.LANG.toml in templates.dir")
    parser.add_argument("--var", action="append", default=[], type=variable,
                        metavar="K=V", help="a value for the placeholder {K}; repeatable")
