"""`relay message list|show|no-response-needed|report`: parse, call the operations, print."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from relay.cli.command import (
    Commands,
    Output,
    columns,
    command,
    count,
    group,
    nonempty,
    on_store,
    record,
    stamp,
)

if TYPE_CHECKING:
    from relay.model import MessageRecord
    from relay.operations import Context


async def message_list(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import messages as ops

    found = await ops.list_messages(ctx, buyer=args.buyer, seller=args.seller, case=args.case,
                                    everything=args.all, limit=args.limit, before=args.before,
                                    reported=args.reported)
    return Output([dataclasses.asdict(m) for m in found],
                  text=table(found) if found else "no messages")


async def message_report(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations.reports import report_message

    report = await report_message(ctx, args.message, args.reason)
    shown = {"report": report.id, "message": report.message, "reporter": report.reporter,
             "reason": report.reason, "reported_at": report.reported_at,
             "notice": report.notice}
    told = (f"notice {report.notice} queued for the admin" if report.notice
            else "no notice sent")
    return Output(shown, text=f"report {report.id} on message {report.message}: {told}")


async def message_no_response_needed(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import messages as ops

    return record(await ops.mark_no_response_needed(ctx, args.message))


_COLUMNS = ("ID", "DIRECTION", "BUYER", "SELLER", "ORDER", "CASE", "RECEIVED", "STATUS",
            "NEEDS RESPONSE", "SUBJECT")


def table(found: list[MessageRecord]) -> str:
    """One line per message under a header, columns as wide as their widest cell."""
    rows: list[tuple[Any, ...]] = [_COLUMNS]
    for m in found:
        received = stamp(m.received_at)
        rows.append((m.id, m.direction, m.buyer, m.seller, m.order or "-", m.case or "-",
                     received, m.status, "yes" if m.response_needed else "no",
                     m.subject or "-"))
    return columns(rows)


async def message_show(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import messages as ops

    if args.as_received:
        data = await ops.received_message(ctx, args.message)
        text = data.decode("utf-8", "replace")
        return Output(text, text=text.rstrip("\r\n").replace("\r\n", "\n"))
    view = await ops.show_message(ctx, args.message)
    shown = dataclasses.asdict(view)
    shown["headers"] = [[name, value] for name, value in view.headers]
    header_lines = "\n".join(f"{name}: {value}" for name, value in view.headers)
    lines = {**shown, "received_at": stamp(view.received_at),
             "response_needed": "yes" if view.response_needed else "no",
             "reply": None if view.reply is None else
             f"{view.reply.code} {view.reply.enhanced} {view.reply.text}"}
    summary = "\n".join(f"{key}: {value if value is not None else '-'}"
                        for key, value in lines.items() if key not in ("headers", "text"))
    return Output(shown, text=f"{summary}\n\n{header_lines}\n\n{view.text or ''}".rstrip())


def _limit(value: str) -> int:
    number = count(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def register(commands: Commands) -> None:
    messages = group(commands, "message", "the message log: what the parties wrote")
    listed = command(messages, "list", on_store(message_list),
                     "messages newest first; by default buyer messages awaiting a response")
    listed.add_argument("--buyer", metavar="ID", type=nonempty, help="only this buyer's")
    listed.add_argument("--seller", metavar="ID", type=nonempty, help="only this seller's")
    listed.add_argument("--case", metavar="CASE", type=nonempty, help="only this case's")
    listed.add_argument("--all", action="store_true",
                        help="every message, not only those awaiting a response")
    listed.add_argument("--reported", action="store_true",
                        help="only messages reported at least once, answered or not")
    listed.add_argument("--limit", metavar="N", type=_limit, default=50,
                        help="at most N messages (default 50)")
    listed.add_argument("--before", metavar="ID", type=nonempty,
                        help="the page after this message: the last id of the previous page")
    shown = command(messages, "show", on_store(message_show),
                    "one message: headers as delivered and its text, parties by alias")
    shown.add_argument("message", metavar="MSG", type=nonempty, help="the message id")
    shown.add_argument("--as-received", action="store_true",
                       help="print the archived bytes as they arrived (operator only: "
                            "they carry the sender's real address)")
    marked = command(messages, "no-response-needed", on_store(message_no_response_needed),
                     "mark a buyer message as needing no response from the seller")
    marked.add_argument("message", metavar="MSG", type=nonempty, help="the message id")
    reported = command(messages, "report", on_store(message_report),
                       "report a message: kept on record, and admin.address gets a notice "
                       "with the message attached")
    reported.add_argument("message", metavar="MSG", type=nonempty, help="the message id")
    reported.add_argument("--reason", metavar="TEXT", type=nonempty, required=True,
                          help="why it is reported (told to the admin)")
