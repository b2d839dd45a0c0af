"""Reports on messages: recorded together with the admin's notice, in one transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from relay.errors import NotFound
from relay.model import QueuedNotice, ReportRecord
from relay.store import notices
from relay.store import tables as t


def record(session: Session, report: ReportRecord, notice: QueuedNotice | None) -> None:
    """The report and its notice's queue entry commit together, or neither does.

    (The `message.reported` event of SPEC §7 belongs in this transaction too.)
    """
    if session.get(t.Message, report.message) is None:
        raise NotFound(f"no message {report.message!r}")
    if notice is not None:
        notices.enqueue(session, notice)
    session.add(t.Report(
        id=report.id, message_id=report.message, reporter=report.reporter,
        reason=report.reason, reported_at=report.reported_at,
        notice_id=None if notice is None else notice.message_id,
    ))
    session.flush()
