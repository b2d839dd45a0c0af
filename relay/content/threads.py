"""Thread keeping: translate In-Reply-To and References into the IDs the recipient knows."""

from __future__ import annotations

from relay.addresses import message_ids
from relay.message import Transaction, header_text
from relay.ports import ThreadLookup


class Threading:
    def __init__(self, store: ThreadLookup) -> None:
        self._store = store

    async def __call__(self, tx: Transaction) -> None:
        route = tx.route
        if route is None or route.relationship_id is None or route.direction is None:
            return
        in_reply_to = message_ids(header_text(tx.parsed, "In-Reply-To"))
        references = message_ids(header_text(tx.parsed, "References"))
        named = list(dict.fromkeys(in_reply_to + references))
        if not named:
            return
        links = await self._store.thread_links(route.relationship_id, route.direction, named)
        tx.in_reply_to = [links[i].translated for i in in_reply_to if i in links]
        tx.references = [links[i].translated for i in references if i in links]
        parents = [links[i] for i in in_reply_to + references[::-1] if i in links]
        tx.parent_id = parents[0].message_id if parents else None
        tx.parent_order_id = parents[0].order_id if parents else None
