"""The queue: what is accepted is claimable once, settles once, and retries when told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from relay.model import Accepted
from relay.store import Store
from relay.store.queue import BODY_BUDGET

LEASE = timedelta(minutes=10)


async def accept(store: Store, message_id: str, delivered: bytes = b"delivered form") -> None:
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    await store.directory.put_buyer("b1", "bob@buyer.example")
    aliases = await store.directory.aliases("b1", "s1")
    route = await store.directory.route(aliases.buyer_alias)
    assert route is not None
    await store.messages.accept(Accepted(
        message_id=message_id, route=route, envelope_sender="owner@acme.example",
        subject="hi", original_message_id=f"<{message_id}@acme.example>",
        relay_message_id=f"<{message_id}@relay.example>", parent_id=None,
        received=b"received form", delivered=delivered,
        envelope_from=f"bounce-{message_id}@relay.example",
    ))


class TestClaim:
    async def test_accepted_message_is_queued_with_its_delivered_form(self, store: Store) -> None:
        await accept(store, "m1")
        (delivery,) = await store.queue.claim(datetime.now(UTC), LEASE, 10)
        assert (delivery.message_id, delivery.recipient, delivery.data, delivery.attempts) == (
            "m1", "bob@buyer.example", b"delivered form", 1)
        assert (await store.messages.archived("m1"))["received"] == b"received form"

    async def test_a_claim_leaves_large_bodies_in_the_store_until_their_turn(
        self, store: Store
    ) -> None:
        """A worker sends its batch one by one: holding every body at once would waste memory."""
        large = [bytes([65 + n]) * (BODY_BUDGET * 2 // 3) for n in range(3)]
        for n, body in enumerate(large):
            await accept(store, f"m{n}", body)
        claimed = await store.queue.claim(datetime.now(UTC), LEASE, 10)
        assert [d.message_id for d in claimed] == ["m0", "m1", "m2"]
        assert [d.data is not None for d in claimed] == [True, False, False]
        assert [await store.queue.body(d) for d in claimed] == large

    async def test_concurrent_claims_take_an_entry_once(self, store: Store) -> None:
        """Many workers racing for one entry: exactly one gets it."""
        await accept(store, "m1")
        now = datetime.now(UTC)
        results = await asyncio.gather(*(store.queue.claim(now, LEASE, 1) for _ in range(8)))
        assert sum(len(r) for r in results) == 1

    async def test_leased_entry_is_not_claimed_until_the_lease_ends(self, store: Store) -> None:
        await accept(store, "m1")
        now = datetime.now(UTC)
        assert len(await store.queue.claim(now, LEASE, 1)) == 1
        assert await store.queue.claim(now + timedelta(minutes=5), LEASE, 1) == []
        (again,) = await store.queue.claim(now + timedelta(minutes=11), LEASE, 1)
        assert again.attempts == 2

    async def test_retry_at_waits_until_then(self, store: Store) -> None:
        await accept(store, "m1")
        now = datetime.now(UTC)
        (delivery,) = await store.queue.claim(now, LEASE, 1)
        await store.queue.retry_at(delivery, now + timedelta(minutes=1), "451 later")
        assert await store.queue.claim(now + timedelta(seconds=30), LEASE, 1) == []
        (item,) = await store.queue.items()
        assert item.last_error == "451 later"
        assert len(await store.queue.claim(now + timedelta(minutes=2), LEASE, 1)) == 1

    @pytest.mark.parametrize("outcome", ["delivered", "failed"])
    async def test_settled_entry_leaves_the_queue(self, store: Store, outcome: str) -> None:
        await accept(store, "m1")
        (delivery,) = await store.queue.claim(datetime.now(UTC), LEASE, 1)
        if outcome == "delivered":
            await store.queue.delivered(delivery)
        else:
            await store.queue.failed(delivery, "550 no")
        assert await store.queue.items() == []
        assert await store.queue.claim(datetime.now(UTC) + LEASE * 2, LEASE, 1) == []
