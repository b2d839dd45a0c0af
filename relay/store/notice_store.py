"""What a delivery status notice may say about a message, read in one transaction."""

from __future__ import annotations

from relay.model import BounceContext
from relay.store import notices
from relay.store.units import Units


class NoticeStore:
    """See `relay.ports.BounceFacts`."""

    def __init__(self, units: Units, alias_domain: str) -> None:
        self._units = units
        self._alias_domain = alias_domain

    async def bounce_context(self, message_id: str) -> BounceContext | None:
        return await self._units.session(notices.bounce_context, message_id, self._alias_domain)
