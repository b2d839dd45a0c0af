"""Sellers, buyers, orders and aliases: the marketplace's directory (SPEC §4).

The store is read on every message, so each change reaches a running relay at
once (SPEC §6).
"""

from __future__ import annotations

from relay.addresses import normalise_address
from relay.errors import Invalid
from relay.model import (
    ORDER_STATUSES,
    Aliases,
    AliasInfo,
    BuyerRecord,
    OrderRecord,
    SellerRecord,
)
from relay.operations.context import Context


async def add_seller(
    ctx: Context, seller_id: str, *, name: str, email: str, orders_per_day: int | None = None
) -> SellerRecord:
    """Create a seller, or update one.

    `email` is the primary address, always authorised; a new one replaces the old,
    which may no longer send unless authorised again. An address belongs to at
    most one seller (Conflict).
    """
    real = _address(email)
    return await ctx.store.directory.put_seller(seller_id, name, real, orders_per_day)


async def authorize_address(ctx: Context, seller_id: str, address: str) -> SellerRecord:
    """Let the seller send from another address (Conflict if another seller has it)."""
    return await ctx.store.directory.authorise(seller_id, _address(address))


async def revoke_address(ctx: Context, seller_id: str, address: str) -> SellerRecord:
    """Take an authorised address away again; the primary one cannot be (NotAllowed)."""
    return await ctx.store.directory.revoke(seller_id, _address(address))


async def add_buyer(
    ctx: Context, buyer_id: str, *, email: str, name: str | None = None,
    language: str | None = None,
) -> BuyerRecord:
    """Create a buyer, or update one; unset fields keep their value."""
    real = _address(email)
    return await ctx.store.directory.put_buyer(buyer_id, real, name, language)


async def opt_out(ctx: Context, buyer_id: str) -> BuyerRecord:
    """Stop mail from sellers (threads and critical reasons still pass, SPEC §2.2)."""
    return await ctx.store.directory.set_opt_out(buyer_id, True)


async def opt_in(ctx: Context, buyer_id: str) -> BuyerRecord:
    return await ctx.store.directory.set_opt_out(buyer_id, False)


async def add_order(
    ctx: Context, order_id: str, *, buyer: str, seller: str, status: str | None = None
) -> OrderRecord:
    """Create an order (`unshipped` unless told), or replay its creation.

    A replay may set the status (without one the order keeps its own); one that
    names another buyer or seller is a Conflict: an order never changes hands.
    """
    checked = None if status is None else _status(status)
    return await ctx.store.directory.put_order(order_id, buyer, seller, checked)


async def set_order_status(ctx: Context, order_id: str, status: str) -> OrderRecord:
    return await ctx.store.directory.set_order_status(order_id, _status(status))


def _status(status: str) -> str:
    if status not in ORDER_STATUSES:
        raise Invalid(f"{status!r} is not an order status; use one of {', '.join(ORDER_STATUSES)}")
    return status


async def show_aliases(ctx: Context, *, buyer: str, seller: str) -> Aliases:
    """The pair's two aliases, created on first use."""
    return await ctx.store.directory.aliases(buyer, seller)


async def lookup_alias(ctx: Context, address: str) -> AliasInfo:
    """Whose alias an address is, and the orders of that relationship."""
    return await ctx.store.directory.lookup(_address(address))


def _address(value: str) -> str:
    """Normalised; malformed is Invalid. The store refuses addresses at the relay's own domain."""
    try:
        return normalise_address(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
