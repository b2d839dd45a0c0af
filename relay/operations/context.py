"""What every operation runs with: the store and the settings, opened once per front call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.addresses import normalise_address
from relay.errors import Invalid

if TYPE_CHECKING:
    from relay.config import Settings
    from relay.store import Store


@dataclass(frozen=True)
class Context:
    store: Store
    settings: Settings

    def real_address(self, value: str) -> str:
        """A party's real address, normalised; one at the relay's own domain would loop."""
        address = self.address(value)
        if address.rpartition("@")[2] == self.settings.aliases.domain:
            raise Invalid(f"{value} is at the relay's own domain; a real address is needed")
        return address

    @staticmethod
    def address(value: str) -> str:
        try:
            return normalise_address(value)
        except ValueError as exc:
            raise Invalid(str(exc)) from None


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
