"""Processes on one store: a heartbeat renews only the leases its process still holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from relay.model import ProcessIdentity
from relay.store import Store
from tests.unit.store.test_queue import accept

LEASE = timedelta(seconds=30)
MX1 = ProcessIdentity("mx1", 101, "boot-1 pid:[1]", 5000)
MX2 = ProcessIdentity("mx2", 202, None, None)


class TestHeartbeat:
    async def test_renews_the_held_leases_still_in_force(self, store: Store) -> None:
        for name in ("m1", "m2", "m3"):
            await accept(store, name)
        now = datetime.now(UTC)
        me = await store.processes.register(MX1, now)
        one, _ = await store.queue.claim(now, LEASE, 2, me)
        later = now + timedelta(seconds=10)
        renewed = await store.processes.beat(me, [one.queue_id], later, later + LEASE)
        assert renewed == [one.queue_id]  # the other is no longer tracked: it runs out
        leases = {i.message_id: i.lease_until for i in await store.queue.items()}
        assert leases == {"m1": later + LEASE, "m2": now + LEASE, "m3": None}

    async def test_does_not_revive_a_lease_that_ran_out_or_another_holds(
        self, store: Store
    ) -> None:
        await accept(store, "m1")
        await accept(store, "m2")
        now = datetime.now(UTC)
        me = await store.processes.register(MX1, now)
        other = await store.processes.register(MX2, now)
        mine, theirs = await store.queue.claim(now, LEASE, 2, me)
        late = now + LEASE * 2
        (taken,) = await store.queue.claim(late, LEASE, 1, other)
        assert taken.queue_id == mine.queue_id
        held = [mine.queue_id, theirs.queue_id]
        assert await store.processes.beat(me, held, late, late + LEASE) == []
        # theirs ran out unrenewed: free for anyone, not ours again
        (again,) = await store.queue.claim(late, LEASE, 1, other)
        assert again.queue_id == theirs.queue_id

    async def test_a_forgotten_process_hears_so(self, store: Store) -> None:
        now = datetime.now(UTC)
        me = await store.processes.register(MX1, now)
        assert await store.processes.beat(me, [], now, now + LEASE) == []
        await store.processes.forget([me])
        assert await store.processes.beat(me, [], now, now + LEASE) is None


class TestForget:
    async def test_frees_the_leases_of_a_dead_process_at_once(self, store: Store) -> None:
        await accept(store, "m1")
        now = datetime.now(UTC)
        dead = await store.processes.register(MX1, now)
        alive = await store.processes.register(MX2, now)
        await store.queue.claim(now, LEASE, 1, dead)
        assert await store.queue.claim(now, LEASE, 1, alive) == []
        await store.processes.forget([dead])
        (taken,) = await store.queue.claim(now, LEASE, 1, alive)
        assert taken.message_id == "m1"
        assert [p.id for p in await store.processes.on_node("boot-1 pid:[1]")] == []

    async def test_registering_forgets_processes_silent_for_long(self, store: Store) -> None:
        now = datetime.now(UTC)
        old = await store.processes.register(MX1, now - timedelta(days=2))
        recent = await store.processes.register(MX1, now - timedelta(hours=1))
        await store.processes.register(MX2, now, forget_before=now - timedelta(days=1))
        assert [p.id for p in await store.processes.on_node(MX1.node or "")] == [recent]
        assert await store.processes.beat(old, [], now, now + LEASE) is None

    async def test_processes_on_a_node_carry_what_tells_if_they_died(
        self, store: Store
    ) -> None:
        now = datetime.now(UTC)
        me = await store.processes.register(MX1, now)
        await store.processes.register(MX2, now)
        (found,) = await store.processes.on_node("boot-1 pid:[1]")
        assert (found.id, found.identity, found.heartbeat_at) == (me, MX1, now)
