"""The store's schema: create or migrate it (`relay db upgrade`)."""

from __future__ import annotations

from relay.operations.context import Context


async def upgrade(ctx: Context) -> None:
    """Create or migrate the schema to the newest revision; harmless when up to date."""
    await ctx.store.upgrade()
