"""`relay queue list|retry|drop`: the operator's hands on the delivery queue."""

from __future__ import annotations

import argparse
import dataclasses

from relay.cli.command import Commands, Output, command, group, nonempty, open_store
from relay.config import Settings
from relay.delivery.bounces import Bouncer


async def queue_list(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        items = [dataclasses.asdict(item) for item in await store.queue.items()]
    return Output(items, text=None if items else "the queue is empty")


async def queue_retry(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        await store.queue.retry_now(args.message)
    return Output({"message": args.message, "status": "queued"},
                  text=f"{args.message} will be tried again at once")


async def queue_drop(settings: Settings, args: argparse.Namespace) -> Output:
    """Dropping is a permanent failure: the sender gets a notice, as for a 5xx."""
    async with open_store(settings) as store:
        bouncer = Bouncer(store.notices, settings.server.hostname, settings.aliases.domain)
        notice = await bouncer.notice_for(
            args.message, "5.3.0", "x-relay; the message was removed from the queue by an operator"
        )
        await store.queue.drop(args.message, notice)
    return Output({"message": args.message, "status": "bounced",
                   "notice": notice.message_id if notice else None},
                  text=f"{args.message} dropped" + (", its sender is told" if notice else ""))


def register(commands: Commands) -> None:
    queue = group(commands, "queue", "messages waiting for delivery")
    command(queue, "list", queue_list, "what is waiting, soonest first")
    for name, handler, help in (
        ("retry", queue_retry, "try a message again now"),
        ("drop", queue_drop, "give up on a message and tell its sender"),
    ):
        command(queue, name, handler, help).add_argument("message", metavar="MSG",
                                                         type=nonempty)
