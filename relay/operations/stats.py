"""Figures about how sellers treat buyers (SPEC §6), counted by the store."""

from __future__ import annotations

from datetime import UTC, datetime

from relay.errors import Invalid
from relay.model import ResponseTime
from relay.operations.context import Context

MAX_DAYS = 3650


async def response_time(
    ctx: Context, *, seller: str, days: int = 30, now: datetime | None = None
) -> ResponseTime:
    """The seller's answers within 24 hours over the last `days` days; unknown seller: NotFound."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"--days must be between 1 and {MAX_DAYS}")
    return await ctx.store.messages.response_time(seller, days, now or datetime.now(UTC))
