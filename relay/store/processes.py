"""Relay processes known to the store: registration, heartbeat, and the leases they renew."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BindParameter, Connection, bindparam, delete, insert, select, update

from relay.model import ProcessIdentity, ProcessRecord
from relay.store import tables as t

_P = t.PROCESSES
_Q = t.QUEUE

_BEAT = update(_P).where(_P.c.id == bindparam("me")).values(heartbeat_at=bindparam("now"))
# Only a lease still in force is renewed: one that ran out may have been claimed
# by another process already, and one a worker stopped tracking must run out.
_RENEW = (
    update(_Q)
    .where(
        _Q.c.id.in_(bindparam("held", expanding=True)),
        _Q.c.holder == bindparam("me"),
        _Q.c.lease_until >= bindparam("now"),
    )
    .values(lease_until=bindparam("until"))
    .returning(_Q.c.id)
)


def register(connection: Connection, me: ProcessIdentity, now: datetime) -> int:
    """Add this process; the id it gets names it in every lease it takes."""
    found = connection.execute(
        insert(_P)
        .values(hostname=me.hostname, pid=me.pid, node=me.node, pid_started=me.pid_started,
                started_at=now, heartbeat_at=now)
        .returning(_P.c.id)
    )
    return int(found.scalar_one())


def beat(connection: Connection, me: int, held: list[int], now: datetime,
         until: datetime) -> list[int] | None:
    """Say this process is alive and extend the leases on `held` to `until`.

    Returns the entries whose lease was extended: any other has run out or is
    someone else's now. None if the registration is gone (forgotten as silent).
    """
    if connection.execute(_BEAT, {"me": me, "now": now}).rowcount == 0:
        return None
    if not held:
        return []
    renewed = connection.execute(_RENEW, {"held": held, "me": me, "now": now, "until": until})
    return [int(queue_id) for queue_id in renewed.scalars()]


def on_node(connection: Connection, node: str) -> list[ProcessRecord]:
    """The processes registered on one boot of one machine, in one PID namespace."""
    rows = connection.execute(select(_P).where(_P.c.node == node).order_by(_P.c.id))
    return [
        ProcessRecord(r.id, ProcessIdentity(r.hostname, r.pid, r.node, r.pid_started),
                      r.heartbeat_at)
        for r in rows
    ]


def forget(connection: Connection, process_ids: list[int]) -> None:
    """Free every lease these processes hold and remove them: they are gone."""
    if not process_ids:
        return
    ids: BindParameter[list[int]] = bindparam("ids", expanding=True)
    connection.execute(
        update(_Q).where(_Q.c.holder.in_(ids)).values(lease_until=None, holder=None),
        {"ids": process_ids},
    )
    connection.execute(delete(_P).where(_P.c.id.in_(ids)), {"ids": process_ids})


def forget_silent(connection: Connection, before: datetime) -> None:
    """Remove processes not heard from since `before`; their leases ran out long ago."""
    connection.execute(delete(_P).where(_P.c.heartbeat_at < before))
