"""The query plans behind the log's commands, as the database chooses them on a filled store.

Each store function runs as the CLI would run it, with its statements recorded;
its main statement (the last) is explained with the same parameters:
EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL. The plan's text is kept,
with the indexes it uses and the tables it reads whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from relay.operations.archive import EXPORT_PAGE, EXPORT_PAGE_BYTES, VERIFY_PAGE
from relay.store import Store, archive, dispute, message_log

Work = Callable[[Session], object]

_SQLITE_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)")
_SQLITE_SCAN = re.compile(r"\bSCAN (\w+)(?! USING)(?:\s|$)")
_PG_INDEX = re.compile(r"Index (?:Only )?Scan(?: Backward)? using (\w+)|Bitmap Index Scan on (\w+)")
_PG_SCAN = re.compile(r"Seq Scan on (\w+)")


@dataclass(frozen=True)
class Plan:
    name: str
    statement: str
    lines: list[str]
    indexes: list[str]  # distinct, in plan order
    full_scans: list[str]  # tables (or their aliases) read whole


def _distinct(found: list[str]) -> list[str]:
    return list(dict.fromkeys(found))


def _summary(postgres: bool, lines: list[str]) -> tuple[list[str], list[str]]:
    text = "\n".join(lines)
    if postgres:
        indexes = [a or b for a, b in _PG_INDEX.findall(text)]
        return _distinct(indexes), _distinct(_PG_SCAN.findall(text))
    scans = [m.group(1) for line in lines for m in [_SQLITE_SCAN.search(line)]
             if m is not None and "USING" not in line and "CONSTANT ROW" not in line]
    return _distinct(_SQLITE_INDEX.findall(text)), _distinct(scans)


def _explain(session: Session, name: str, work: Work) -> Plan:
    connection = session.connection()
    seen: list[tuple[str, Any]] = []

    def record(_c: Connection, _cursor: Any, statement: str, parameters: Any,
               _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        work(session)
    finally:
        event.remove(connection, "before_cursor_execute", record)
    # The query that pages or counts: the first ordered one, else the last (lookups of
    # the seller, buyer or `--before` mark come first and are unordered).
    ordered = [entry for entry in seen if "ORDER BY" in entry[0]]
    statement, parameters = ordered[0] if ordered else seen[-1]
    postgres = connection.dialect.name == "postgresql"
    prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    rows = connection.exec_driver_sql(prefix + statement, parameters).all()
    lines = [str(row[0]) for row in rows] if postgres else [
        _sqlite_line(rows, row) for row in rows]
    indexes, scans = _summary(postgres, lines)
    return Plan(name, statement, lines, indexes, scans)


def _sqlite_line(rows: Sequence[Any], row: Any) -> str:
    """EXPLAIN QUERY PLAN rows (id, parent, _, detail) as an indented tree."""
    depth, parent = 0, row[1]
    parents = {r[0]: r[1] for r in rows}
    while parent:
        depth, parent = depth + 1, parents.get(parent, 0)
    return "  " * depth + str(row[3])


@dataclass(frozen=True)
class Subjects:
    """Whom and where the explained queries ask about."""

    seller: str  # the big shop
    quiet_seller: str  # a seller with a handful of messages
    buyer: str
    pair: tuple[str, str]  # the exported relationship
    middle: tuple[datetime, str]  # a message halfway through the pair's history
    deep: str  # a message a tenth of the way into all history (a deep --before)


def queries(subjects: Subjects) -> list[tuple[str, Work]]:
    """The store calls behind the timed commands whose plans matter.

    Export's page is the one after the pair's middle message; verify's is the
    chain's first page.
    """
    now = datetime.now(UTC)
    seller, quiet = subjects.seller, subjects.quiet_seller

    def listed(before: str | None = None, **filters: str | None) -> Work:
        return lambda s: message_log.records(
            s, buyer=filters.get("buyer"), seller=filters.get("seller"), case_id=None,
            everything=False, limit=50, before=before)

    def exported(session: Session) -> object:
        found = dispute.dispute(session.connection(), *subjects.pair, None)
        return dispute.page(session.connection(), found.relationship_id, None,
                            subjects.middle, EXPORT_PAGE, EXPORT_PAGE_BYTES)

    def verified(session: Session) -> object:
        head = archive.head(session.connection())
        return archive.page(session.connection(), head.base_seq, head.seq, VERIFY_PAGE)

    return [
        ("message list", listed()),
        ("message list --before (deep)", listed(subjects.deep)),
        ("message list --seller", listed(seller=seller)),
        ("message list --seller (quiet seller)", listed(seller=quiet)),
        ("message list --buyer", listed(buyer=subjects.buyer)),
        ("stats response-time", lambda s: message_log.response_time(s, seller, 30, now)),
        ("stats response-time (quiet seller)",
         lambda s: message_log.response_time(s, quiet, 30, now)),
        ("archive export (page)", exported),
        ("archive verify (page)", verified),
    ]


async def explain(store: Store, subjects: Subjects) -> list[Plan]:
    plans = []
    for name, work in queries(subjects):
        plans.append(await store.database.run(partial(_explain, name=name, work=work)))
    return plans
