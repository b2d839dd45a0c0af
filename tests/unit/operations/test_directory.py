"""The directory operations, called as the HTTP API will call them: records in, errors out."""

from __future__ import annotations

import pytest

from relay.errors import Invalid, NotFound
from relay.model import ORDER_STATUSES, SellerRecord
from relay.operations import Context
from relay.operations import directory as ops


async def _pair(ctx: Context) -> None:
    await ops.add_seller(ctx, "s1", name="Acme Shop", email="Owner@Acme.example")
    await ops.add_buyer(ctx, "b1", email="bob@buyer.example", name="Bob B.")


class TestSellers:
    async def test_add_returns_the_record(self, ctx: Context) -> None:
        seller = await ops.add_seller(ctx, "s1", name="Acme", email="<Owner@Acme.example>",
                                      orders_per_day=3)
        assert seller == SellerRecord("s1", "Acme", "owner@acme.example", 3,
                                      ("owner@acme.example",))

    async def test_an_address_at_the_relay_domain_is_invalid(self, ctx: Context) -> None:
        """A party at the relay's own domain would make mail loop through the relay."""
        with pytest.raises(Invalid, match="relay's own domain"):
            await ops.add_seller(ctx, "s1", name="Acme", email="x@relay.example")

    async def test_a_malformed_address_is_invalid(self, ctx: Context) -> None:
        await _pair(ctx)
        with pytest.raises(Invalid):
            await ops.authorize_address(ctx, "s1", "not-an-address")

    async def test_authorize_and_revoke(self, ctx: Context) -> None:
        await _pair(ctx)
        seller = await ops.authorize_address(ctx, "s1", "Staff@Acme.example")
        assert seller.addresses == ("owner@acme.example", "staff@acme.example")
        seller = await ops.revoke_address(ctx, "s1", "staff@acme.example")
        assert seller.addresses == ("owner@acme.example",)


class TestBuyers:
    async def test_opt_out_and_in(self, ctx: Context) -> None:
        await _pair(ctx)
        assert (await ops.opt_out(ctx, "b1")).opted_out
        assert not (await ops.opt_in(ctx, "b1")).opted_out

    async def test_unknown_buyer_is_not_found(self, ctx: Context) -> None:
        with pytest.raises(NotFound, match="no buyer 'b9'"):
            await ops.opt_out(ctx, "b9")


class TestOrdersAndAliases:
    async def test_a_new_order_is_unshipped(self, ctx: Context) -> None:
        await _pair(ctx)
        order = await ops.add_order(ctx, "o1", buyer="b1", seller="s1")
        assert (order.buyer_id, order.seller_id, order.status) == ("b1", "s1", "unshipped")

    async def test_a_status_outside_the_set_is_invalid(self, ctx: Context) -> None:
        """The API will answer 422 from this, as the CLI answers exit 2."""
        await _pair(ctx)
        with pytest.raises(Invalid, match="'weird' is not an order status; use one of pending"):
            await ops.add_order(ctx, "o1", buyer="b1", seller="s1", status="weird")
        await ops.add_order(ctx, "o1", buyer="b1", seller="s1")
        with pytest.raises(Invalid):
            await ops.set_order_status(ctx, "o1", "Shipped")
        for status in ORDER_STATUSES:
            assert (await ops.set_order_status(ctx, "o1", status)).status == status

    async def test_lookup_finds_the_pair_and_its_orders(self, ctx: Context) -> None:
        await _pair(ctx)
        await ops.add_order(ctx, "o1", buyer="b1", seller="s1")
        aliases = await ops.show_aliases(ctx, buyer="b1", seller="s1")
        info = await ops.lookup_alias(ctx, aliases.seller_alias.upper())
        assert (info.kind, info.buyer, info.seller, info.orders) == ("seller", "b1", "s1", ("o1",))

    async def test_unknown_alias_is_not_found(self, ctx: Context) -> None:
        with pytest.raises(NotFound):
            await ops.lookup_alias(ctx, "nobody@relay.example")
