"""This process's registration in the store: its heartbeat renews the leases its workers hold.

Every `interval` seconds one short transaction stamps the process as alive
and extends the leases on the entries its workers still hold. A process that
dies stops renewing, so its claims run out within one lease (30 s) and any
other process takes them. A process on the same machine sees at once that
a registered PID has died (after `kill -9`, say) and frees its claims
without waiting: a restarted relay delivers what its predecessor held.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from datetime import UTC, datetime, timedelta

import structlog

from relay.delivery.leases import Leases
from relay.errors import StoreError
from relay.model import ProcessIdentity
from relay.ports import ProcessRegistry

log = structlog.get_logger("relay.delivery")

# Registrations not heard from for this long are removed when a process starts.
FORGET_AFTER = timedelta(days=1)


class Heartbeat:
    def __init__(self, store: ProcessRegistry, *, interval: float = 5.0, lease: float = 30.0,
                 margin: float = 5.0, identity: ProcessIdentity | None = None) -> None:
        self.leases = Leases(lease, margin)
        self._store = store
        self._interval = interval
        self._identity = identity or this_process()
        self._id: int | None = None

    @property
    def holder(self) -> int:
        """This process's id in the store, which every lease it takes names."""
        if self._id is None:
            raise RuntimeError("the heartbeat has not registered this process yet")
        return self._id

    async def register(self) -> None:
        """Join the store's processes, and free the claims of dead neighbours at once."""
        now = datetime.now(UTC)
        self._id = await self._store.register(self._identity, now, now - FORGET_AFTER)
        log.info("process.registered", process=self._id)
        await self._reap()

    async def run(self, stopping: asyncio.Event) -> None:
        """Beat until `stopping` is set; a failed beat is logged and the next one tried."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._interval)
            if stopping.is_set():
                return
            try:
                await self.beat()
            except StoreError as exc:
                # The leases keep running down: workers stop sending before they end.
                log.warning("process.heartbeat_failed", error=str(exc))

    async def beat(self) -> None:
        since = asyncio.get_running_loop().time()
        now = datetime.now(UTC)
        renewed = await self._store.beat(self.holder, self.leases.held(), now,
                                         now + self.leases.length)
        if renewed is None:
            # Silent so long that we were forgotten: every lease we had ran out long ago.
            log.warning("process.forgotten", process=self._id)
            await self.register()
            return
        self.leases.renewed(renewed, since)
        await self._reap()

    async def deregister(self) -> None:
        """Leave the store; whatever this process still holds is free at once."""
        if self._id is not None:
            await self._store.forget([self._id])
            self._id = None

    async def _reap(self) -> None:
        node = self._identity.node
        if node is None:
            return
        dead = [p.id for p in await self._store.on_node(node)
                if p.id != self._id and not alive(p.identity)]
        if dead:
            await self._store.forget(dead)
            log.warning("process.dead_freed", processes=dead)


def this_process() -> ProcessIdentity:
    return identity(os.getpid())


def identity(pid: int) -> ProcessIdentity:
    """A process on this machine as the store knows it."""
    stat = _stat(pid)
    return ProcessIdentity(socket.gethostname(), pid, _node(), stat[1] if stat else None)


def alive(process: ProcessIdentity) -> bool:
    """Whether a process registered on this node still runs; when unsure, it does.

    Wrongly taken for dead, a live process would lose its claims while sending:
    so only a PID that is gone, a zombie, or a PID reused since is dead.
    """
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: we cannot look further
    stat = _stat(process.pid)
    if stat is None or process.pid_started is None:
        return True  # hidden from us (/proc mounted with hidepid), or never known
    state, started = stat
    return state not in ("Z", "X") and started == process.pid_started


def _node() -> str | None:
    """This boot of this machine and this PID namespace: where a PID names one process."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            boot = fh.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{boot} {namespace}"


def _stat(pid: int) -> tuple[str, int] | None:
    """A process's state and start time (clock ticks since boot), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: count fields after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])
