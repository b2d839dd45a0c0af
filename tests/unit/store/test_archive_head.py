"""The chain's head as each engine remembers it: one UPDATE when right, the full take if not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from relay.operations import Context
from relay.operations.archive import verify_archive
from relay.store import Store
from tests.conftest import DOMAIN
from tests.unit.store.test_queue import accept


def _head_updates(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith("UPDATE ARCHIVE_HEAD"))


async def test_an_append_after_the_engines_own_moves_the_head_once(store: Store) -> None:
    """The head this engine left is still the head: one conditional UPDATE, then the INSERT."""
    await accept(store, "m1")  # first use: the head is taken as it is
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        await accept(store, "m2")
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert _head_updates(statements) == 1


async def test_two_stores_writing_in_turn_keep_one_chain(
    store: Store, store_url: str, make_settings: Any
) -> None:
    """Each store's memory of the head is stale after the other wrote: it takes the head again."""
    other = Store(store_url, 35, DOMAIN)
    try:
        for i in range(4):
            await accept(store, f"a{i}")
            await accept(other, f"b{i}")
        found = await verify_archive(Context(store, make_settings()))
        assert (found.ok, found.records, found.head_seq) == (True, 16, 16)
    finally:
        await other.close()
