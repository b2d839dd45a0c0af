"""A pair's standing for the seller-to-buyer rules: opt-out, orders, the buyer's threads."""

from __future__ import annotations

from relay.model import Accepted, Route
from relay.store import Store

DOMAIN = "relay.example"


Pair = dict[str, Route]  # the pair's route each way, by kind


async def _pair(store: Store, seller: str = "s1") -> Pair:
    await store.directory.put_seller(seller, "Shop", f"owner@{seller}.example")
    await store.directory.put_buyer("b1", "bob@buyer.example")
    aliases = await store.directory.aliases("b1", seller)
    routes = [await store.directory.route(a)
              for a in (aliases.buyer_alias, aliases.seller_alias)]
    return {r.kind: r for r in routes if r is not None}


def _rel(pair: Pair) -> int:
    relationship_id = pair["seller-to-buyer"].relationship_id
    assert relationship_id is not None
    return relationship_id


async def _message(store: Store, pair: Pair, kind: str, name: str,
                   parent: str | None = None, deliver: bool = True) -> str:
    await store.messages.accept(Accepted(
        message_id=name, route=pair[kind], envelope_sender="x@y.example",
        subject=None, original_message_id=f"<orig-{name}@client.example>",
        relay_message_id=f"<{name}@{DOMAIN}>", parent_id=parent, received=b"r",
        delivered=b"d", envelope_from="v@relay.example", deliver=deliver,
    ))
    return f"<{name}@{DOMAIN}>"


class TestPairPolicy:
    async def test_opt_out_and_orders(self, store: Store) -> None:
        rel = _rel(await _pair(store))
        policy = await store.pairs.pair_policy(rel)
        assert (policy.opted_out, policy.order_statuses, policy.order_ids) == (False, (), ())
        await store.directory.put_order("o1", "b1", "s1", "cancelled")
        await store.directory.put_order("o2", "b1", "s1", "shipped")
        await store.directory.set_opt_out("b1", True)
        policy = await store.pairs.pair_policy(rel)
        assert policy.opted_out
        assert sorted(policy.order_statuses) == ["cancelled", "shipped"]
        assert dict(zip(policy.order_ids, policy.order_statuses, strict=True)) == {
            "o1": "cancelled", "o2": "shipped"}


class TestBuyerWroteIn:
    async def test_the_thread_up_from_the_named_message(self, store: Store) -> None:
        """The buyer's message named, or one the named message answers: the buyer wrote in."""
        pair = await _pair(store)
        rel = _rel(pair)
        buyer = await _message(store, pair, "buyer-to-seller", "b" * 32)
        seller = await _message(store, pair, "seller-to-buyer", "s" * 32, parent="b" * 32)
        cold = await _message(store, pair, "seller-to-buyer", "c" * 32)
        assert await store.pairs.buyer_wrote_in(rel, [buyer])
        assert await store.pairs.buyer_wrote_in(rel, [seller])
        assert not await store.pairs.buyer_wrote_in(rel, [cold])
        assert await store.pairs.buyer_wrote_in(rel, [cold, buyer])
        assert not await store.pairs.buyer_wrote_in(rel, [])

    async def test_only_relay_ids_of_this_pair(self, store: Store) -> None:
        """An original Message-ID, or a relay-issued one of another pair, is no thread."""
        pair = await _pair(store)
        rel = _rel(pair)
        await _message(store, pair, "buyer-to-seller", "b" * 32)
        there = await _message(store, await _pair(store, "s2"), "buyer-to-seller", "o" * 32)
        assert not await store.pairs.buyer_wrote_in(rel, [f"<orig-{'b' * 32}@client.example>"])
        assert not await store.pairs.buyer_wrote_in(rel, [there])

    async def test_an_automatic_reply_is_not_the_buyer_writing(self, store: Store) -> None:
        pair = await _pair(store)
        auto = await _message(store, pair, "buyer-to-seller", "a" * 32, deliver=False)
        assert not await store.pairs.buyer_wrote_in(_rel(pair), [auto])
