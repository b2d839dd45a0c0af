"""Whether this relay can do its work: the check READY=1 waits for, and a health endpoint reuses.

One place decides what "healthy" means, so that systemd, a load balancer and an
alert never disagree about the same relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from relay.errors import StoreUnavailable


class Answering(Protocol):
    async def answers(self) -> None:
        """Return once the store has answered a query; raise StoreUnavailable if not."""


@dataclass(frozen=True)
class Health:
    """What is wrong, one sentence each; nothing means healthy."""

    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


async def check(store: Answering) -> Health:
    """The store answers a query (later: and the queue moves)."""
    try:
        await store.answers()
    except StoreUnavailable as exc:
        return Health((str(exc),))
    return Health()
