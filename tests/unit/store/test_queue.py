"""The queue: what is accepted is claimable once, settles once, and retries when told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from relay.model import Accepted, ProcessIdentity, QueuedNotice
from relay.store import Store
from relay.store.queue import BODY_BUDGET
from relay.store.tables import MESSAGES

LEASE = timedelta(seconds=30)
HOLDER = 1  # a process id; the queue does not check it is registered


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


class TestBacklog:
    async def test_depth_and_oldest_entry(self, store: Store) -> None:
        """What the metrics and the health check read: 0 and None when empty."""
        empty = await store.queue.backlog()
        assert (empty.depth, empty.oldest, empty.oldest_age(datetime.now(UTC))) == (0, None, 0)
        before = datetime.now(UTC)
        await accept(store, "m1")
        between = datetime.now(UTC)
        await asyncio.sleep(0.01)
        await accept(store, "m2")
        backlog = await store.queue.backlog()
        assert backlog.depth == 2
        assert backlog.oldest is not None
        assert before - timedelta(seconds=1) <= backlog.oldest <= between
        assert backlog.oldest_age(backlog.oldest + timedelta(seconds=90)) == 90


class TestClaim:
    async def test_accepted_message_is_queued_with_its_delivered_form(self, store: Store) -> None:
        await accept(store, "m1")
        (delivery,) = await store.queue.claim(datetime.now(UTC), LEASE, 10, HOLDER)
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
        claimed = await store.queue.claim(datetime.now(UTC), LEASE, 10, HOLDER)
        assert [d.message_id for d in claimed] == ["m0", "m1", "m2"]
        assert [d.data is not None for d in claimed] == [True, False, False]
        assert [await store.queue.body(d) for d in claimed] == large

    async def test_concurrent_claims_take_an_entry_once(self, store: Store) -> None:
        """Many workers racing for one entry: exactly one gets it."""
        await accept(store, "m1")
        now = datetime.now(UTC)
        results = await asyncio.gather(
            *(store.queue.claim(now, LEASE, 1, HOLDER) for _ in range(8)))
        assert sum(len(r) for r in results) == 1

    async def test_leased_entry_is_not_claimed_until_the_lease_ends(self, store: Store) -> None:
        await accept(store, "m1")
        now = datetime.now(UTC)
        assert len(await store.queue.claim(now, LEASE, 1, HOLDER)) == 1
        assert await store.queue.claim(now + timedelta(seconds=20), LEASE, 1, HOLDER) == []
        (again,) = await store.queue.claim(now + timedelta(seconds=31), LEASE, 1, HOLDER)
        assert again.attempts == 2

    async def test_retry_at_waits_until_then(self, store: Store) -> None:
        await accept(store, "m1")
        now = datetime.now(UTC)
        (delivery,) = await store.queue.claim(now, LEASE, 1, HOLDER)
        await store.queue.retry_at(delivery, now + timedelta(minutes=1), "451 later")
        assert await store.queue.claim(now + timedelta(seconds=30), LEASE, 1, HOLDER) == []
        (item,) = await store.queue.items()
        assert item.last_error == "451 later"
        assert len(await store.queue.claim(now + timedelta(minutes=2), LEASE, 1, HOLDER)) == 1

    @pytest.mark.parametrize("outcome", ["delivered", "failed"])
    async def test_settled_entry_leaves_the_queue(self, store: Store, outcome: str) -> None:
        await accept(store, "m1")
        (delivery,) = await store.queue.claim(datetime.now(UTC), LEASE, 1, HOLDER)
        if outcome == "delivered":
            await store.queue.delivered(delivery)
        else:
            await store.queue.failed(delivery, "550 no")
        assert await store.queue.items() == []
        assert await store.queue.claim(datetime.now(UTC) + LEASE * 2, LEASE, 1, HOLDER) == []


async def status(store: Store, message_id: str) -> str:
    def read(connection: Connection) -> str:
        return str(connection.scalar(select(MESSAGES.c.status).where(MESSAGES.c.id == message_id)))

    return await store.database.run_connection(read)


class TestLostClaims:
    """A holder cut off past its lease must not settle what another process claimed since."""

    @pytest.mark.parametrize("settle", ["retry_at", "failed", "release"])
    async def test_a_lost_claim_settles_nothing(self, store: Store, settle: str) -> None:
        await accept(store, "m1")
        now = datetime.now(UTC)
        (lost,) = await store.queue.claim(now, LEASE, 1, HOLDER)
        (taken,) = await store.queue.claim(now + LEASE * 2, LEASE, 1, HOLDER + 1)
        if settle == "retry_at":
            await store.queue.retry_at(lost, now + timedelta(hours=1), "451 later")
        elif settle == "failed":
            notice = QueuedNotice("n1", "m1", "<n1@relay.example>", "owner@acme.example", b"x")
            assert not await store.queue.failed(lost, "550 no", notice)
        else:
            await store.queue.release([lost])
        (item,) = await store.queue.items()
        assert (item.attempts, item.last_error, item.lease_until) == (2, None, now + LEASE * 3)
        assert await status(store, "m1") == "queued"
        assert await store.queue.failed(taken, "550 no")  # the holder's own settles
        assert await store.queue.items() == []

    async def test_an_earlier_claim_of_the_same_holder_settles_nothing(
        self, store: Store
    ) -> None:
        """The attempt count tells two claims of one process apart."""
        await accept(store, "m1")
        now = datetime.now(UTC)
        (first,) = await store.queue.claim(now, LEASE, 1, HOLDER)
        (second,) = await store.queue.claim(now + LEASE * 2, LEASE, 1, HOLDER)
        await store.queue.release([first])
        (item,) = await store.queue.items()
        assert item.attempts == second.attempts == 2


class TestQueueList:
    async def test_shows_who_holds_a_lease_and_until_when(self, store: Store) -> None:
        await accept(store, "m1")
        await accept(store, "m2")
        now = datetime.now(UTC)
        me = await store.processes.register(ProcessIdentity("mx1", 4242, None, None), now)
        await store.queue.claim(now, LEASE, 1, me)
        held, waiting = await store.queue.items()
        assert (held.message_id, held.holder, held.lease_until) == ("m1", "mx1[4242]",
                                                                    now + LEASE)
        assert (waiting.message_id, waiting.holder, waiting.lease_until) == ("m2", None, None)

    async def test_a_lease_that_ran_out_is_not_shown(self, store: Store) -> None:
        await accept(store, "m1")
        await store.queue.claim(datetime.now(UTC) - LEASE * 2, LEASE, 1, HOLDER)
        (item,) = await store.queue.items()
        assert (item.holder, item.lease_until) == (None, None)
