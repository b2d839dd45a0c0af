"""The dispute archive (SPEC §2.6, §6): checking its hash chain, exporting a dispute as an mbox.

The chain's rules are `relay.archive.chain`; `verify_archive` reads the chain a
page at a time (memory stays constant however long it is) and feeds it to the
checker.

The export is the mboxo format that Python's `mailbox.mbox` writes and every
mail client reads: a `From ` line naming the sender's alias and the time the
relay received the message, the message, a blank line; a body line starting
with "From " is written as ">From ". Messages go in the order they arrived
(received_at, then id), each as delivered, every real address of either party
shown as its alias (`relay.operations.views`). Mail kept without delivery
(consumed: read receipts, auto-replies) is left out: the other party never saw
it and its received form carries real addresses. The store is read a page at
a time and each message written as it comes, so memory stays flat.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import mailbox
from datetime import UTC, datetime, timedelta
from email.generator import BytesGenerator
from pathlib import Path
from typing import BinaryIO, Protocol

from relay.archive import checkpoints
from relay.archive.anchor import AnchorCheck, Below, Checkpoint, Kept
from relay.archive.chain import Checker, Expected, Head, Problem
from relay.archive.checkpoints import BadCheckpoint
from relay.errors import Conflict, Invalid, NotFound
from relay.model import ArchiveCheck, DisputeMessage, ExportSummary, PurgeSummary, Redaction
from relay.operations.cases import case_number
from relay.operations.context import Context
from relay.operations.views import aliased

# A page: at most this many messages and, past the first, this many bytes of bodies.
EXPORT_PAGE = 200
EXPORT_PAGE_BYTES = 8 * 1024 * 1024


class Progress(Protocol):
    """What a front shows while a long operation runs (a progress bar, or nothing)."""

    def start(self, total: int) -> None: ...

    def advance(self, done: int) -> None: ...


class _Silent:
    def start(self, total: int) -> None:
        pass

    def advance(self, done: int) -> None:
        pass


async def export_dispute(
    ctx: Context, out: BinaryIO, *, buyer: str, seller: str, case: str | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write the pair's messages (or one case's) to `out` as an mbox, oldest first.

    Unknown buyer, seller or case, a pair that never exchanged mail, or a case of
    another pair: NotFound, before anything is written.
    """
    shown = progress or _Silent()
    dispute = await ctx.store.messages.dispute(
        buyer, seller, None if case is None else case_number(case))
    shown.start(dispute.messages)
    written = 0
    after = None
    while True:
        page = await ctx.store.messages.dispute_page(
            dispute.relationship_id, dispute.case_id, after, EXPORT_PAGE, EXPORT_PAGE_BYTES)
        if not page:
            break
        for message in page:
            out.write(mbox_entry(message))
        written += len(page)
        shown.advance(len(page))
        after = (page[-1].received_at, page[-1].id)
    out.flush()
    return ExportSummary(written, dispute.not_delivered)


def mbox_entry(message: DisputeMessage) -> bytes:
    """One message as `mailbox.mbox` lays it out: From line, message, blank line."""
    envelope = mailbox.mboxMessage()
    envelope.set_from(message.sender_alias, message.received_at.utctimetuple())
    shown = aliased(message.delivered, message.hidden)
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=True).flatten(shown)
    body = buffer.getvalue()
    ending = b"\n" if body.endswith(b"\n") else b"\n\n"
    return b"From " + envelope.get_from().encode("ascii") + b"\n" + body + ending


VERIFY_PAGE = 200  # records per read: a page of 1 MiB messages stays a few hundred MiB at most


async def redact_message(ctx: Context, message: str, reason: str) -> Redaction:
    """Answer an erasure request: the message's archived content becomes a tombstone.

    The records keep their place and content hashes and a redaction record is
    chained, so `verify_archive` still passes. Unknown message: NotFound; one
    redacted already or still queued: Conflict; an empty reason: Invalid.
    """
    if not reason.strip():
        raise Invalid("a redaction needs a reason")
    done = await ctx.store.archive.redact(message, reason.strip(), datetime.now(UTC))
    if done is None:
        raise NotFound(f"no message {message!r}")
    return done


async def verify_archive(ctx: Context, *, checkpoint: Path | None = None,
                         page: int = VERIFY_PAGE) -> ArchiveCheck:
    """Check every record of the chain up to its head; name the first that is wrong.

    With `checkpoint` (a file the relay wrote, signed with
    `archive.checkpoint_key_file`), also check that the chain still holds each
    record it names: a chain that ends before one was cut off, a different hash
    was rewritten. A line not signed by the key is a negative answer too; a
    missing file or key is Invalid. Records committed after the head was read
    are left for the next check.
    """
    expected: dict[int, Expected] = {}
    if checkpoint is not None:
        try:
            expected = await asyncio.to_thread(_expected, checkpoint,
                                               ctx.settings.archive.checkpoint_key_file)
        except _Disagreement as exc:
            return ArchiveCheck(ok=False, records=0, first_bad=exc.name, problem=str(exc),
                                head_seq=0, head_hash="")
        except BadCheckpoint as exc:
            return ArchiveCheck(ok=False, records=0, first_bad=None, problem=str(exc),
                                head_seq=0, head_hash="")
    head = await ctx.store.archive.head()  # after the file: no checkpoint is newer than it
    below, kept = await _below_base(ctx, head, page)
    if below is not None:
        return ArchiveCheck(ok=False, records=kept, first_bad=below.name, problem=below.detail,
                            head_seq=head.seq, head_hash=head.hash)
    checker = Checker(head, expected)
    after = head.base_seq
    while checker.problem is None:
        records = await ctx.store.archive.page(after, head.seq, page)
        if not records:
            break
        for record in records:
            if checker.feed(record) is not None:
                break
        after = records[-1].seq
    problem = checker.finish()
    if problem is not None:
        problem = await _placed(ctx, await _swapped(ctx, problem), head)
    return ArchiveCheck(
        ok=problem is None, records=kept + checker.records,
        first_bad=None if problem is None else problem.name,
        problem=None if problem is None else problem.detail,
        head_seq=head.seq, head_hash=head.hash)


async def _swapped(ctx: Context, problem: Problem) -> Problem:
    """Content that is another record's was moved there, not merely changed."""
    if problem.found_hash is None:
        return problem
    other = await ctx.store.archive.holding(problem.found_hash)
    if other is None or other == problem.seq:
        return problem
    return dataclasses.replace(
        problem, fault="reordered",
        detail=f"record #{problem.seq} holds the content of record #{other}: "
               "records were swapped or reordered")


async def _placed(ctx: Context, problem: Problem, head: Head) -> Problem:
    """Where a record out of place belongs: before the record that follows its hash."""
    if problem.placed is None:
        return problem
    follower = await ctx.store.archive.following(problem.placed)
    home = head.seq if follower is None and problem.placed == head.hash else (
        None if follower is None else follower - 1)
    if home is None or home == problem.seq:
        return problem
    return dataclasses.replace(problem, detail=f"{problem.detail}; it belongs at #{home}")


class _Disagreement(BadCheckpoint):
    """Two signed checkpoints name one record with different hashes: it was rewritten between."""

    def __init__(self, seq: int, first: Expected, second: Expected) -> None:
        super().__init__(f"the checkpoints of {first.at} and {second.at} name different "
                         f"records #{seq}: the chain was rewritten between them")
        self.name = f"#{seq}"


def _expected(path: Path, key_file: Path) -> dict[int, Expected]:
    """What the file's checkpoints saw, by seq; signatures checked with the relay's key."""
    try:
        signing_key = checkpoints.load_key(key_file)
    except (OSError, ValueError) as exc:
        raise Invalid(f"archive.checkpoint_key_file: cannot read the key ({exc})") from None
    try:
        found = checkpoints.read(path, signing_key)
    except OSError as exc:
        raise Invalid(f"cannot read the checkpoint file {path}: "
                      f"{exc.strerror or exc}") from None
    expected: dict[int, Expected] = {}
    for point in found:
        seen = Expected(point.hash, point.at)
        earlier = expected.setdefault(point.seq, seen)
        if earlier.hash != seen.hash:
            raise _Disagreement(point.seq, earlier, seen)
    return expected


# Retention: `relay archive purge` (the anchor it leaves is relay.archive.anchor).

PURGE_BATCH = 500  # records (or message rows) removed per transaction
# A case closed less than this before a purge began keeps its records through that
# purge: whether a record is due then cannot change while the purge runs.
CLOSE_MARGIN = timedelta(minutes=10)


async def _below_base(ctx: Context, head: Head, page: int) -> tuple[Problem | None, int]:
    """Below the chain's start: what the newest checkpoint kept must be there, unchanged."""
    if head.base_seq == 0:
        return None, 0
    found = await ctx.store.archive.latest_checkpoint()
    check = AnchorCheck(head, *(found if found is not None else (None, None)))
    after = 0
    while check.problem is None and check.checkpoint is not None:
        records = await ctx.store.archive.page(after, head.base_seq, page)
        if not records:
            break
        due = await ctx.store.archive.due([r.seq for r in records],
                                          check.checkpoint.closed_before)
        for record in records:
            if check.feed(Below(record, record.seq in due)) is not None:
                break
        after = records[-1].seq
    return check.finish(), check.kept.count


async def purge_archive(
    ctx: Context, *, dry_run: bool = False, progress: Progress | None = None,
    now: datetime | None = None,
) -> PurgeSummary:
    """Remove the records older than archive.retention_days, except a case's not yet closed.

    The chain is verified first (a broken one is not purged: Conflict). The
    records due to go are counted and the kept ones folded into a checkpoint,
    which is chained before anything is removed; then records, and message rows
    left without records, go in batches. A purge stopped half-way is finished by
    the next; until then verify accepts the records still due.
    """
    shown = progress or _Silent()
    now = now or datetime.now(UTC)
    check = await verify_archive(ctx)
    if not check.ok:
        raise Conflict(f"the archive does not verify ({check.first_bad}: {check.problem}); "
                       "nothing was purged")
    store = ctx.store.archive
    head = await store.head()
    cutoff = now - timedelta(days=ctx.settings.archive.retention_days)
    closed_before = now - CLOSE_MARGIN
    through = await store.mark(head.base_seq, head.seq, cutoff)
    kept, due, after = Kept(), 0, 0
    while standing := await store.standing(after, through, closed_before, PURGE_BATCH):
        for seq, linked, is_due in standing:
            if is_due:
                due += 1
            else:
                kept.add(seq, linked)
        after = standing[-1][0]
    if dry_run:
        return PurgeSummary(purged=due, kept=kept.count, messages=None, checkpoint=None)
    checkpoint: int | None = None
    if due:
        hash_at = head.base_hash if through == head.base_seq else await store.chain_hash(
            through)
        assert hash_at is not None  # verified: every record after the start is there
        content = Checkpoint(through, hash_at, closed_before, kept.count,
                             kept.digest).content()
        await store.anchor(head.base_seq, through, hash_at, content, now)
        found = await store.latest_checkpoint()
        checkpoint = None if found is None else found[0]
    shown.start(due)
    purged = 0
    while removed := await store.purge_records(through, closed_before, PURGE_BATCH):
        purged += removed
        shown.advance(removed)
    messages = 0
    while removed := await store.purge_messages(cutoff, closed_before, PURGE_BATCH):
        messages += removed
    return PurgeSummary(purged=purged, kept=kept.count, messages=messages,
                        checkpoint=checkpoint)
