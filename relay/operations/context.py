"""What every operation runs with: the store and the settings, opened once per front call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.store import Store


@dataclass(frozen=True)
class Context:
    store: Store
    settings: Settings


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Context]:
    """A context on the configured store, closed on the way out."""
    # Imported on use: commands that never touch the store (--help, check-config)
    # do not pay for SQLAlchemy and the tables.
    from relay.store import Store

    store = Store(settings.store.url, settings.aliases.length, settings.aliases.domain)
    try:
        yield Context(store, settings)
    finally:
        await store.close()
