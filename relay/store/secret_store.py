"""The relay's own keys, made on first use and shared by every instance on the store."""

from __future__ import annotations

from relay.store import secrets
from relay.store.units import Units


class SecretStore:
    """See `relay.ports.Keys`."""

    def __init__(self, units: Units) -> None:
        self._units = units

    async def key(self, name: str) -> bytes:
        """A secret key of the relay's own, made on first use (e.g. "verp")."""
        return await self._units.session(secrets.get_or_make, name)
