"""`relay queue list|retry|drop`: parse, call relay.operations.queue, print the outcome."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from relay.cli.command import Commands, Output, command, group, nonempty, on_store

if TYPE_CHECKING:
    from relay.operations import Context


async def queue_list(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import queue as ops

    items = [dataclasses.asdict(item) for item in await ops.list_queue(ctx)]
    return Output(items, text=None if items else "the queue is empty")


async def queue_retry(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import queue as ops

    await ops.retry(ctx, args.message)
    return Output({"message": args.message, "status": "queued"},
                  text=f"{args.message} will be tried again at once")


async def queue_drop(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import queue as ops

    dropped = await ops.drop(ctx, args.message)
    told = ", its sender is told" if dropped.notice else ""
    return Output({"message": dropped.message, "status": "bounced", "notice": dropped.notice},
                  text=f"{dropped.message} dropped{told}")


def register(commands: Commands) -> None:
    queue = group(commands, "queue", "messages waiting for delivery")
    command(queue, "list", on_store(queue_list), "what is waiting, soonest first")
    for name, handler, help in (
        ("retry", queue_retry, "try a message again now"),
        ("drop", queue_drop, "give up on a message and tell its sender"),
    ):
        command(queue, name, on_store(handler), help).add_argument(
            "message", metavar="MSG", type=nonempty, help="the message id, as queue list shows it"
        )
