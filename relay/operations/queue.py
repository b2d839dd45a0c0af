"""The operator's hands on the delivery queue: list, retry now, drop with a notice."""

from __future__ import annotations

from dataclasses import dataclass

from relay.model import QueueItem
from relay.operations.context import Context

DROPPED_STATUS = "5.3.0"
DROPPED_DIAGNOSTIC = "x-relay; the message was removed from the queue by an operator"


@dataclass(frozen=True)
class Dropped:
    message: str
    notice: str | None  # the notice queued for the sender, if one may be sent


async def list_queue(ctx: Context) -> list[QueueItem]:
    """What is waiting for delivery, soonest first."""
    return await ctx.store.queue.items()


async def retry(ctx: Context, message_id: str) -> None:
    """Make a queued message due at once."""
    await ctx.store.queue.retry_now(message_id)


async def drop(ctx: Context, message_id: str) -> Dropped:
    """Give up on a message: a permanent failure, so its sender gets a notice as for a 5xx."""
    # Imported on use: building notices pulls in the MIME machinery.
    from relay.delivery.bounces import Bouncer

    server, aliases = ctx.settings.server, ctx.settings.aliases
    bouncer = Bouncer(ctx.store.notices, server.hostname, aliases.domain)
    notice = await bouncer.notice_for(message_id, DROPPED_STATUS, DROPPED_DIAGNOSTIC)
    await ctx.store.queue.drop(message_id, notice)
    return Dropped(message_id, notice.message_id if notice else None)
