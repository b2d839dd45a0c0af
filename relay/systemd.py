"""sd_notify without a dependency: READY, RELOADING, STOPPING and the watchdog's pings."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to systemd; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings: half of `WatchdogSec=`, as sd_watchdog_enabled(3) advises.

    None when systemd asks for no pings, or asks another process (WATCHDOG_PID):
    a child started with our environment must not ping for us.
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
        pid = int(env.get("WATCHDOG_PID") or os.getpid())
    except ValueError:
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 2_000_000


async def watchdog(interval: float) -> None:
    """Ping from the event loop itself: a loop that stalls stops the pings, and systemd
    restarts the relay. A thread would keep pinging for a relay that serves nobody.

    Nothing is logged per ping: at WatchdogSec=30s that would be a line every 15s.
    """
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)
