"""Group commit: concurrent accepts share commits, and each still gets its own outcome."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, event

from relay.errors import Conflict
from relay.model import Accepted
from relay.store import Store
from tests.unit.store.test_queue import accept


async def _accepted_like(store: Store, message_id: str) -> Accepted:
    forms = await store.messages.archived(message_id)
    aliases = await store.directory.aliases("b1", "s1")
    route = await store.directory.route(aliases.buyer_alias)
    assert route is not None
    return Accepted(
        message_id=message_id, route=route, envelope_sender="owner@acme.example",
        subject="hi", original_message_id=None, relay_message_id=f"<{message_id}@relay.example>",
        parent_id=None, received=forms["received"], delivered=forms["delivered"],
        envelope_from=f"bounce-{message_id}@relay.example",
    )


def _renamed(base: Accepted, message_id: str) -> Accepted:
    return replace(base, message_id=message_id, relay_message_id=f"<{message_id}@relay.example>")


class TestGroupCommit:
    async def test_concurrent_accepts_share_commits(self, store: Store) -> None:
        """Forty accepts at once all land, in far fewer commits than forty."""
        await accept(store, "first")
        base = await _accepted_like(store, "first")
        commits: list[int] = []

        def count(_conn: Any) -> None:
            commits.append(1)

        event.listen(Engine, "commit", count)
        names = [f"m{i:02d}" for i in range(40)]
        await asyncio.gather(*(store.messages.accept(_renamed(base, m)) for m in names))
        event.remove(Engine, "commit", count)
        assert {item.message_id for item in await store.queue.items()} == {"first", *names}
        assert 1 <= len(commits) <= 5

    async def test_a_bad_write_fails_alone(self, store: Store) -> None:
        """A duplicate in the middle of a batch is refused; its neighbours are committed."""
        await accept(store, "first")
        base = await _accepted_like(store, "first")
        results = await asyncio.gather(
            store.messages.accept(_renamed(base, "a")),
            store.messages.accept(_renamed(base, "first")),  # already stored
            store.messages.accept(_renamed(base, "b")),
            return_exceptions=True,
        )
        assert results[0] is None
        assert results[2] is None
        assert isinstance(results[1], Conflict)
        assert {i.message_id for i in await store.queue.items()} == {"first", "a", "b"}
