"""`relay case open|resolve|reopen|close|list`: parse, call relay.operations.cases, print."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from relay.cli.command import (
    Commands,
    Output,
    columns,
    command,
    group,
    nonempty,
    on_store,
    record,
    stamp,
)
from relay.model import CASE_STATES

if TYPE_CHECKING:
    from relay.model import CaseRecord
    from relay.operations import Context


async def case_open(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import cases as ops

    case = await ops.open_case(ctx, buyer=args.buyer, seller=args.seller, order=args.order,
                               subject=args.subject)
    return Output({"case": case.id}, text=f"case {case.id} opened")


async def case_resolve(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import cases as ops

    return record(await ops.resolve_case(ctx, args.case))


async def case_reopen(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import cases as ops

    return record(await ops.reopen_case(ctx, args.case))


async def case_close(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import cases as ops

    return record(await ops.close_case(ctx, args.case))


async def case_list(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import cases as ops

    found = await ops.list_cases(ctx, buyer=args.buyer, seller=args.seller, state=args.state)
    return Output([dataclasses.asdict(case) for case in found],
                  text=table(found) if found else "no cases")


_COLUMNS = ("ID", "STATE", "BUYER", "SELLER", "ORDER", "MESSAGES", "LAST ACTIVITY", "SUBJECT")


def table(found: list[CaseRecord]) -> str:
    """One line per case under a header, columns as wide as their widest cell."""
    rows: list[tuple[Any, ...]] = [_COLUMNS]
    for c in found:
        last = stamp(c.last_activity)
        rows.append((c.id, c.state, c.buyer, c.seller, c.order or "-", c.messages, last,
                     c.subject or "-"))
    return columns(rows)


def register(commands: Commands) -> None:
    cases = group(commands, "case", "cases: a dispute or request about one buyer-seller pair")
    opened = command(cases, "open", on_store(case_open),
                     "open a case for the pair (at most one not closed at a time)")
    opened.add_argument("--buyer", metavar="ID", required=True, type=nonempty,
                        help="the buyer's id")
    opened.add_argument("--seller", metavar="ID", required=True, type=nonempty,
                        help="the seller's id")
    opened.add_argument("--order", metavar="ORDER_ID", type=nonempty,
                        help="the order the case is about (one of the pair's)")
    opened.add_argument("--subject", metavar="TEXT", help="what the case is about")
    for name, handler, help in (
        ("resolve", case_resolve, "mark an open case resolved (it still takes mail)"),
        ("reopen", case_reopen, "open a resolved case again"),
        ("close", case_close,
         "close a resolved case for good: replies in its threads are refused"),
    ):
        command(cases, name, on_store(handler), help).add_argument(
            "case", metavar="CASE", type=nonempty, help="the case id, as case open printed it"
        )
    listed = command(cases, "list", on_store(case_list),
                     "cases newest first, with their message count and last activity")
    listed.add_argument("--buyer", metavar="ID", type=nonempty, help="only this buyer's cases")
    listed.add_argument("--seller", metavar="ID", type=nonempty,
                        help="only this seller's cases")
    listed.add_argument("--state", choices=CASE_STATES, help="only cases in this state")
