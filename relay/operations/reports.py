"""Reporting a message (SPEC §6): kept on record, and the admin told through the queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from relay.errors import Invalid, NotFound
from relay.model import ReportRecord
from relay.operations.context import Context

MAX_REASON = 2000
CLI_REPORTER = "cli"
# Line breaks and tabs are text; other control characters are not.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _reason(text: str) -> str:
    reason = text.replace("\r\n", "\n").strip()
    if not reason:
        raise Invalid("the reason must not be empty")
    if len(reason) > MAX_REASON:
        raise Invalid(f"the reason is longer than {MAX_REASON} characters")
    if _CONTROL.search(reason):
        raise Invalid("the reason must not contain control characters")
    return reason


async def report_message(
    ctx: Context, message: str, reason: str, *, reporter: str = CLI_REPORTER
) -> ReportRecord:
    """Record a report and queue `admin.address` a notice with the message as it arrived.

    The notice is an ordinary queue entry, committed with the report: the
    running relay's workers deliver it over the upstream, retried until
    `queue.max_age` like any message. One message may be reported any number of
    times; each report is kept, with its own notice.
    """
    # Imported on use: building the notice pulls in the MIME machinery.
    from relay.delivery.report_notice import Reported, notice_for
    from relay.message import new_id

    text = _reason(reason)
    found = await ctx.store.messages.archived_message(message)
    if found is None:
        raise NotFound(f"no message {message!r}")
    if found.record.status == "refused":
        raise Invalid(f"message {message} was refused: nobody received it and nothing of it "
                      "was kept to report")
    report_id, now = new_id(), datetime.now(UTC)
    notice = notice_for(Reported(report_id, reporter, text, now, found),
                        ctx.settings.aliases.domain, ctx.settings.admin.address)
    report = ReportRecord(report_id, message, reporter, text, now, notice.message_id)
    await ctx.store.reports.record(report, notice)
    return report
