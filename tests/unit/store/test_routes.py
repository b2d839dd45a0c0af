"""Route lookups at RCPT: concurrent sessions share queries, and each still gets its own route."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine, event

from relay.errors import StoreUnavailable
from relay.store import Store
from relay.store.lookups import GroupLookup


async def _pairs(store: Store, count: int) -> list[tuple[str, str]]:
    """`count` buyer-seller pairs; their (buyer alias, seller alias)."""
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    await store.directory.authorise("s1", "staff@acme.example")
    pairs = []
    for n in range(count):
        await store.directory.put_buyer(f"b{n}", f"buyer{n}@mailbox.example", name=f"B {n}")
        aliases = await store.directory.aliases(f"b{n}", "s1")
        pairs.append((aliases.buyer_alias, aliases.seller_alias))
    return pairs


class TestRoutes:
    async def test_concurrent_lookups_share_queries(self, store: Store) -> None:
        """Forty lookups at once (both aliases of 20 pairs) take far fewer than forty queries."""
        pairs = await _pairs(store, 20)
        queries: list[str] = []

        def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            queries.append(statement)

        event.listen(Engine, "before_cursor_execute", count)
        try:
            wanted = [alias for pair in pairs for alias in pair]
            found = await asyncio.gather(*(store.directory.route(a) for a in wanted))
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert 1 <= len(queries) <= 5
        for n, (to_buyer, to_seller) in enumerate(zip(found[::2], found[1::2], strict=True)):
            assert to_buyer is not None
            assert to_seller is not None
            assert (to_buyer.kind, to_buyer.recipient) == ("seller-to-buyer",
                                                           f"buyer{n}@mailbox.example")
            assert to_buyer.sender_addresses == ("owner@acme.example", "staff@acme.example")
            assert (to_seller.kind, to_seller.recipient) == ("buyer-to-seller",
                                                             "owner@acme.example")
            assert to_seller.sender_addresses == (f"buyer{n}@mailbox.example",)
            assert to_seller.sender_name == f"B {n}"

    async def test_each_lookup_sees_what_is_stored_when_it_asks(self, store: Store) -> None:
        """A change made between two lookups shows in the second: nothing is cached."""
        (to_buyer, _), = await _pairs(store, 1)
        first = await store.directory.route(to_buyer)
        await store.directory.authorise("s1", "third@acme.example")
        second = await store.directory.route(to_buyer)
        assert first is not None
        assert second is not None
        assert "third@acme.example" not in first.sender_addresses
        assert "third@acme.example" in second.sender_addresses

    async def test_unknown_aliases_beside_known_ones(self, store: Store) -> None:
        (to_buyer, _), = await _pairs(store, 1)
        known, unknown = await asyncio.gather(store.directory.route(to_buyer),
                                              store.directory.route("nobody@relay.example"))
        assert known is not None
        assert unknown is None


class TestGroupLookup:
    async def test_a_failed_read_fails_each_waiting_lookup(self) -> None:
        async def broken(keys: list[str]) -> dict[str, int]:
            raise StoreUnavailable("the store failed")

        lookup: GroupLookup[str, int] = GroupLookup(broken)
        results = await asyncio.gather(lookup.get("a"), lookup.get("b"), return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results)
        await lookup.close()

    async def test_keys_asked_during_a_read_go_in_the_next(self) -> None:
        reads: list[list[str]] = []
        gate = asyncio.Event()

        async def read(keys: list[str]) -> dict[str, int]:
            reads.append(keys)
            await gate.wait()
            return {k: len(k) for k in keys}

        lookup: GroupLookup[str, int] = GroupLookup(read)
        first = asyncio.create_task(lookup.get("a"))
        await asyncio.sleep(0)
        later = [asyncio.create_task(lookup.get(k)) for k in ("bb", "ccc", "bb")]
        await asyncio.sleep(0)
        gate.set()
        assert await first == 1
        assert [await t for t in later] == [2, 3, 2]
        assert reads == [["a"], ["bb", "ccc"]]
        await lookup.close()

    async def test_a_caller_that_gives_up_leaves_the_others(self) -> None:
        gate = asyncio.Event()

        async def read(keys: list[str]) -> dict[str, int]:
            await gate.wait()
            return {k: 1 for k in keys}

        lookup: GroupLookup[str, int] = GroupLookup(read)
        gone = asyncio.create_task(lookup.get("a"))
        stays = asyncio.create_task(lookup.get("a"))
        await asyncio.sleep(0)
        gone.cancel()
        gate.set()
        assert await stays == 1
        with pytest.raises(asyncio.CancelledError):
            await gone
        await lookup.close()

    async def test_closing_mid_read_fails_the_lookups_it_held(self) -> None:
        """A lookup whose read was under way when the store closed is answered, not left."""
        started = asyncio.Event()

        async def slow(keys: list[str]) -> dict[str, int]:
            started.set()
            await asyncio.sleep(60)
            return {}

        lookup: GroupLookup[str, int] = GroupLookup(slow)
        waiting = asyncio.create_task(lookup.get("a"))
        await started.wait()
        await lookup.close()
        with pytest.raises(RuntimeError, match="closed"):
            await asyncio.wait_for(waiting, 5)
