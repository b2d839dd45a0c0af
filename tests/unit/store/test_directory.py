"""The directory: sellers, buyers, orders, relationships and their aliases, on both backends."""

from __future__ import annotations

import pytest

from relay.errors import Conflict, Invalid, NotAllowed, NotFound
from relay.store import Store

ALIAS_LENGTH = 35


async def _pair(store: Store) -> None:
    await store.directory.put_seller("s1", "Acme Shop", "Owner@Acme.example")
    await store.directory.put_buyer("b1", "bob@buyer.example", "Bob B.")


class TestSellers:
    async def test_primary_address_is_authorised_and_lower_cased(self, store: Store) -> None:
        """The primary address is stored lower-case and may send at once."""
        await _pair(store)
        seller = await store.directory.seller("s1")
        assert seller.email == "owner@acme.example"
        assert seller.addresses == ("owner@acme.example",)

    async def test_authorise_and_revoke(self, store: Store) -> None:
        """Extra sending addresses can be added and taken away again."""
        await _pair(store)
        await store.directory.authorise("s1", "Staff@Acme.example")
        addresses = (await store.directory.seller("s1")).addresses
        assert addresses == ("owner@acme.example", "staff@acme.example")
        assert await store.directory.seller_owning("staff@acme.example") == "s1"
        await store.directory.revoke("s1", "staff@acme.example")
        assert (await store.directory.seller("s1")).addresses == ("owner@acme.example",)
        assert await store.directory.seller_owning("staff@acme.example") is None

    async def test_revoking_an_unknown_address_is_not_found(self, store: Store) -> None:
        await _pair(store)
        with pytest.raises(NotFound):
            await store.directory.revoke("s1", "nobody@acme.example")

    async def test_a_new_primary_replaces_the_old_one(self, store: Store) -> None:
        """The old primary loses its right to send with its place."""
        await _pair(store)
        seller = await store.directory.put_seller("s1", "Acme", "new@acme.example")
        assert (seller.email, seller.addresses) == ("new@acme.example", ("new@acme.example",))
        assert await store.directory.seller_owning("owner@acme.example") is None

    async def test_an_address_belongs_to_one_seller(self, store: Store) -> None:
        await _pair(store)
        await store.directory.put_seller("s2", "Other", "other@other.example")
        with pytest.raises(Conflict, match="already an address of another seller"):
            await store.directory.authorise("s2", "owner@acme.example")
        with pytest.raises(Conflict, match="already an address of another seller"):
            await store.directory.put_seller("s2", "Other", "owner@acme.example")
        assert await store.directory.seller_owning("owner@acme.example") == "s1"
        assert (await store.directory.seller("s2")).email == "other@other.example"

    async def test_the_primary_address_cannot_be_revoked(self, store: Store) -> None:
        await _pair(store)
        with pytest.raises(NotAllowed, match="primary address"):
            await store.directory.revoke("s1", "owner@acme.example")

    async def test_alias_domain_is_not_a_real_address(self, store: Store) -> None:
        """A party at the relay's own domain would make mail loop through the relay."""
        with pytest.raises(Invalid, match="relay's own domain"):
            await store.directory.put_buyer("b2", "someone@relay.example")

    async def test_unknown_seller_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            await store.directory.authorise("nope", "a@b.example")


class TestAliases:
    async def test_aliases_are_stable_exact_length_and_distinct(self, store: Store) -> None:
        """The same pair always gets the same two aliases of exactly the configured length."""
        await _pair(store)
        first = await store.directory.aliases("b1", "s1")
        again = await store.directory.aliases("b1", "s1")
        assert first == again
        assert first.buyer_alias != first.seller_alias
        for alias in (first.buyer_alias, first.seller_alias):
            assert len(alias) == ALIAS_LENGTH
            assert alias.endswith("@relay.example")

    async def test_lookup_is_case_insensitive(self, store: Store) -> None:
        await _pair(store)
        await store.directory.put_order("o1", "b1", "s1")
        aliases = await store.directory.aliases("b1", "s1")
        info = await store.directory.lookup(aliases.buyer_alias.upper())
        assert (info.kind, info.buyer, info.seller, info.orders) == ("buyer", "b1", "s1", ("o1",))
        info = await store.directory.lookup(aliases.seller_alias)
        assert info.kind == "seller"

    async def test_unknown_alias_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            await store.directory.lookup("zzzzzzzzzzzzzzzzzzzzz@relay.example")

    async def test_route_to_buyer_alias_names_the_seller_as_sender(self, store: Store) -> None:
        await _pair(store)
        aliases = await store.directory.aliases("b1", "s1")
        route = await store.directory.route(aliases.buyer_alias)
        assert route is not None
        assert route.kind == "seller-to-buyer"
        assert route.recipient == "bob@buyer.example"
        assert route.sender_addresses == ("owner@acme.example",)
        assert route.sender_name == "Acme Shop"
        assert route.sender_alias == aliases.seller_alias

    async def test_route_to_seller_alias_names_the_buyer_as_sender(self, store: Store) -> None:
        await _pair(store)
        aliases = await store.directory.aliases("b1", "s1")
        route = await store.directory.route(aliases.seller_alias)
        assert route is not None
        assert route.kind == "buyer-to-seller"
        assert route.recipient == "owner@acme.example"
        assert route.sender_addresses == ("bob@buyer.example",)
        assert route.sender_name == "Bob B."

    async def test_aliases_need_known_parties(self, store: Store) -> None:
        with pytest.raises(NotFound):
            await store.directory.aliases("b1", "s1")


class TestBuyersAndOrders:
    async def test_opt_out_and_back(self, store: Store) -> None:
        await _pair(store)
        assert (await store.directory.set_opt_out("b1", True)).opted_out
        assert not (await store.directory.set_opt_out("b1", False)).opted_out

    async def test_an_order_never_changes_hands(self, store: Store) -> None:
        """Replaying with another seller is a conflict naming the field; nothing moves."""
        await _pair(store)
        await store.directory.put_seller("s2", "Evil", "evil@evil.example")
        await store.directory.put_order("o1", "b1", "s1", status="shipped")
        with pytest.raises(Conflict, match="order o1 belongs to seller s1, not s2"):
            await store.directory.put_order("o1", "b1", "s2")
        order = await store.directory.put_order("o1", "b1", "s1")
        assert (order.seller_id, order.status) == ("s1", "shipped")

    async def test_set_order_status(self, store: Store) -> None:
        await _pair(store)
        await store.directory.put_order("o1", "b1", "s1")
        assert (await store.directory.set_order_status("o1", "returned")).status == "returned"
        with pytest.raises(NotFound, match="no order 'o2'"):
            await store.directory.set_order_status("o2", "returned")

    async def test_order_update_keeps_relationship(self, store: Store) -> None:
        await _pair(store)
        await store.directory.put_order("o1", "b1", "s1")
        order = await store.directory.put_order("o1", "b1", "s1", status="shipped")
        assert order.status == "shipped"
