"""Whether this relay can do its work: the check READY=1 waits for, and /healthz reports.

One place decides what "healthy" means, so that systemd, a load balancer and an
alert never disagree about the same relay. READY=1 asks only the first half (the
store answers): a relay restarted while its upstream is down must still take mail
in, or a delivery problem would become an outage of intake as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from relay.errors import StoreError, StoreUnavailable
from relay.model import Backlog


class Answering(Protocol):
    async def answers(self) -> None:
        """Return once the store has answered a query; raise StoreUnavailable if not."""


class Backlogged(Protocol):
    async def backlog(self) -> Backlog:
        """The queue's depth and the time its oldest entry was queued."""


@dataclass(frozen=True)
class Health:
    """What is wrong, one sentence each; nothing means healthy."""

    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


async def check(store: Answering, queue: Backlogged | None = None,
                stuck_after: float | None = None) -> Health:
    """The store answers a query; with `queue`, the oldest entry is not older than `stuck_after`."""
    try:
        await store.answers()
    except StoreUnavailable as exc:
        return Health((str(exc),))
    if queue is None or stuck_after is None:
        return Health()
    try:
        backlog = await queue.backlog()
    except StoreError as exc:
        return Health((str(exc),))
    age = backlog.oldest_age(datetime.now(UTC))
    if age > stuck_after:
        return Health((f"the oldest queued message has waited {_span(age)}, longer than "
                       f"metrics.stuck_after ({_span(stuck_after)}): deliveries are not "
                       "getting through (see relay queue list)",))
    return Health()


def _span(seconds: float) -> str:
    """A duration as an operator reads it: "2h 5m", "40s"."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts[:2]) if parts else f"{secs}s"
