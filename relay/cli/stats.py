"""`relay stats response-time`: parse, call relay.operations.stats, print."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from relay.cli.command import Commands, Output, command, count, group, nonempty, on_store, record

if TYPE_CHECKING:
    from relay.operations import Context


async def stats_response_time(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import stats as ops

    return record(await ops.response_time(ctx, seller=args.seller, days=args.days))


def register(commands: Commands) -> None:
    stats = group(commands, "stats", "figures about how sellers answer buyers")
    timed = command(stats, "response-time", on_store(stats_response_time),
                    "the share of buyer messages the seller answered within 24 hours")
    timed.add_argument("--seller", metavar="ID", required=True, type=nonempty,
                       help="the seller's id")
    timed.add_argument("--days", metavar="N", type=count, default=30,
                       help="the window: buyer messages of the last N days (default 30)")
