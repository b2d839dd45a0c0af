"""`relay archive verify|purge|export`: parse, call relay.operations.archive, print."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from relay.cli.command import Commands, Output, command, group, nonempty, on_store

if TYPE_CHECKING:
    from relay.model import ExportSummary
    from relay.operations import Context


BROKEN = 1  # SPEC §6: a broken chain is a negative answer


async def archive_verify(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import archive as ops

    found = await ops.verify_archive(
        ctx, checkpoint=None if args.checkpoint is None else Path(args.checkpoint))
    data = {"ok": found.ok, "records": found.records, "first_bad": found.first_bad}
    if found.ok:
        text = (f"ok: {found.records} records checked, the chain is intact up to "
                f"#{found.head_seq} ({found.head_hash})")
        return Output(data, text=text)
    return Output(data, text=f"broken: {found.problem}", status=BROKEN)


async def archive_redact(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import archive as ops

    done = await ops.redact_message(ctx, args.message, args.reason)
    seqs = ", ".join(f"#{seq}" for seq in done.records)
    return Output({"message": done.message, "records": list(done.records),
                   "redaction": done.seq, "redacted_at": done.redacted_at.isoformat()},
                  text=f"message {done.message} redacted: records {seqs} now hold a "
                       f"tombstone; the act is record #{done.seq}")


async def archive_export(ctx: Context, args: argparse.Namespace) -> Output:
    """The mbox to --output (written beside it, renamed when complete) or to stdout.

    With the mbox on stdout the summary goes to stderr, so that the mbox stays whole.
    """
    from relay.cli.progress import bar

    async def export(out: BinaryIO) -> ExportSummary:
        from relay.operations.archive import export_dispute

        with bar("export", "msg", as_json=args.json) as progress:
            return await export_dispute(ctx, out, buyer=args.buyer, seller=args.seller,
                                        case=args.case, progress=progress)

    if args.output is None:
        summary = await export(sys.stdout.buffer)
    else:
        with _complete(Path(args.output)) as out:
            summary = await export(out)
    output = args.output or "-"
    left_out = (f" ({summary.not_delivered} kept without delivery left out)"
                if summary.not_delivered else "")
    return Output({"messages": summary.messages, "not_delivered": summary.not_delivered,
                   "output": output},
                  text=f"{summary.messages} messages written to "
                       f"{'stdout' if args.output is None else output}{left_out}",
                  stderr=args.output is None)


@contextmanager
def _complete(target: Path) -> Iterator[BinaryIO]:
    """A file beside `target` that becomes it only once whole: no half mbox is left behind."""
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                       dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


async def archive_purge(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.cli.progress import bar
    from relay.operations.archive import purge_archive

    with bar("purge", "record", as_json=args.json) as progress:
        done = await purge_archive(ctx, dry_run=args.dry_run, progress=progress)
    data = {"purged": done.purged, "kept": done.kept, "messages": done.messages,
            "checkpoint": done.checkpoint, "dry_run": args.dry_run}
    if args.dry_run:
        text = (f"would purge {done.purged} records; {done.kept} kept for cases "
                "not yet closed")
    else:
        anchored = "" if done.checkpoint is None else f", checkpoint #{done.checkpoint}"
        text = (f"purged {done.purged} records and {done.messages} messages; "
                f"{done.kept} records kept for cases not yet closed{anchored}")
    return Output(data, text=text)


def register(commands: Commands) -> None:
    archive = group(commands, "archive", "the dispute archive: every message as received "
                                         "and as delivered")
    verify = command(archive, "verify", on_store(archive_verify),
                     "check the archive's hash chain; exit 1 naming the first changed, "
                     "removed or reordered record")
    verify.add_argument("--checkpoint", metavar="FILE", type=nonempty,
                        help="also check the chain against the signed checkpoints in FILE "
                             "(archive.checkpoint_file): exit 1 if it was cut off or "
                             "rewritten since")
    purge = command(archive, "purge", on_store(archive_purge),
                    "remove archived messages older than archive.retention_days, except "
                    "those of cases not yet closed; the chain still verifies")
    purge.add_argument("--dry-run", action="store_true",
                       help="count what would be removed and kept, remove nothing")
    redact = command(archive, "redact", on_store(archive_redact),
                     "an erasure request: replace a message's archived content by a "
                     "tombstone; the chain still verifies")
    redact.add_argument("message", metavar="MSG", type=nonempty, help="the message id")
    redact.add_argument("--reason", metavar="TEXT", type=nonempty, required=True,
                        help="why (kept in the archive with the act)")
    export = command(archive, "export", on_store(archive_export),
                     "one dispute's messages as an mbox, oldest first, as delivered, "
                     "both parties by alias")
    export.add_argument("--buyer", metavar="ID", type=nonempty, required=True,
                        help="the buyer of the dispute")
    export.add_argument("--seller", metavar="ID", type=nonempty, required=True,
                        help="the seller of the dispute")
    export.add_argument("--case", metavar="CASE", type=nonempty,
                        help="only this case's messages (a case of this pair)")
    export.add_argument("--output", metavar="FILE", type=nonempty,
                        help="write the mbox to FILE (default: stdout)")
