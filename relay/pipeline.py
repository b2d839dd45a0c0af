"""The message path as data: which steps run, in order, for each kind of mail.

A step is any awaitable callable taking the Transaction. It stops the message by
raising, never by a flag: `Refused` or `Deferred` to refuse it, `Consumed` to keep
it on record without passing it on (relay.replies). The tuples are built in
`relay.app` from Settings, so what runs is visible in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from relay.message import Transaction
from relay.model import RouteKind


class Step(Protocol):
    async def __call__(self, tx: Transaction) -> None: ...


@dataclass(frozen=True)
class Pipeline:
    """RCPT steps decide on each recipient; DATA steps run per kind of route."""

    rcpt: Sequence[Step]
    data: Mapping[RouteKind, Sequence[Step]]


async def run(steps: Sequence[Step], tx: Transaction) -> None:
    for step in steps:
        await step(tx)
