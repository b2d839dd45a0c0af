"""`relay seller|buyer|order|alias`: parse, call relay.operations.directory, print the record.

Each handler imports the operations when it runs (see relay.cli.command).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from relay.cli.command import (
    Commands,
    Output,
    address,
    command,
    count,
    group,
    nonempty,
    on_store,
    record,
)
from relay.model import ORDER_STATUSES

if TYPE_CHECKING:
    from relay.operations import Context


async def seller_add(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.add_seller(
        ctx, args.id, name=args.name, email=args.email, orders_per_day=args.orders_per_day
    ))


async def seller_authorize(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.authorize_address(ctx, args.id, args.address))


async def seller_revoke(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.revoke_address(ctx, args.id, args.address))


async def buyer_add(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.add_buyer(
        ctx, args.id, email=args.email, name=args.name, language=args.language
    ))


async def buyer_opt_out(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.opt_out(ctx, args.id))


async def buyer_opt_in(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.opt_in(ctx, args.id))


async def order_add(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.add_order(
        ctx, args.id, buyer=args.buyer, seller=args.seller, status=args.status
    ))


async def order_set_status(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.set_order_status(ctx, args.id, args.status))


async def alias_show(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.show_aliases(ctx, buyer=args.buyer, seller=args.seller))


async def alias_lookup(ctx: Context, args: argparse.Namespace) -> Output:
    from relay.operations import directory as ops

    return record(await ops.lookup_alias(ctx, args.address))


def _seller(commands: Commands) -> None:
    sellers = group(commands, "seller", "sellers and the addresses they may send from")
    add = command(sellers, "add", on_store(seller_add), "create a seller, or update one")
    add.add_argument("id", metavar="ID", type=nonempty, help="the marketplace's seller id")
    add.add_argument("--name", required=True, type=nonempty,
                     help="the name buyers see on the seller's mail")
    add.add_argument("--email", metavar="ADDR", required=True, type=address,
                     help="primary address, always authorised to send; a new one replaces "
                          "the old, which may then no longer send unless authorised again")
    add.add_argument("--orders-per-day", metavar="N", type=count,
                     help="the seller's daily quota of new conversations (default: unlimited)")
    for name, handler, help in (
        ("authorize", seller_authorize,
         "let the seller send from another address (an address belongs to one seller)"),
        ("revoke", seller_revoke,
         "take an authorised address away again (not the primary one)"),
    ):
        parser = command(sellers, name, on_store(handler), help)
        parser.add_argument("id", metavar="ID", type=nonempty, help="the seller's id")
        parser.add_argument("address", metavar="ADDR", type=address, help="a real address")


def _buyer(commands: Commands) -> None:
    buyers = group(commands, "buyer", "buyers and their opt-out")
    add = command(buyers, "add", on_store(buyer_add), "create a buyer, or update one")
    add.add_argument("id", metavar="ID", type=nonempty, help="the marketplace's buyer id")
    add.add_argument("--email", metavar="ADDR", required=True, type=address,
                     help="the buyer's real address, where their mail is delivered")
    add.add_argument("--name", help="the name sellers see on the buyer's mail")
    add.add_argument("--language", metavar="LANG", help="for templates, e.g. en")
    for name, handler, help in (
        ("opt-out", buyer_opt_out, "stop mail from sellers (threads and critical reasons pass)"),
        ("opt-in", buyer_opt_in, "accept mail from sellers again"),
    ):
        command(buyers, name, on_store(handler), help).add_argument(
            "id", metavar="ID", type=nonempty, help="the buyer's id"
        )


def _order(commands: Commands) -> None:
    orders = group(commands, "order", "orders, which tie a buyer to a seller")
    add = command(orders, "add", on_store(order_add),
                  "create an order; replaying it is harmless, moving it to another buyer or "
                  "seller is refused")
    add.add_argument("id", metavar="ORDER_ID", type=nonempty, help="the marketplace's order id")
    add.add_argument("--buyer", metavar="ID", required=True, type=nonempty,
                     help="the buyer who placed the order")
    add.add_argument("--seller", metavar="ID", required=True, type=nonempty,
                     help="the seller who fulfils it")
    add.add_argument("--status", metavar="STATUS", choices=ORDER_STATUSES,
                     help="%(choices)s; a new order is unshipped unless told, a replay "
                          "without --status keeps the order's status")
    set_status = command(orders, "set-status", on_store(order_set_status),
                         "move an order to another status")
    set_status.add_argument("id", metavar="ORDER_ID", type=nonempty, help="the order's id")
    set_status.add_argument("status", metavar="STATUS", choices=ORDER_STATUSES,
                            help="%(choices)s")


def _alias(commands: Commands) -> None:
    aliases = group(commands, "alias", "the relay addresses of a buyer-seller pair")
    show = command(aliases, "show", on_store(alias_show),
                   "the pair's two aliases (created on first use)")
    show.add_argument("--buyer", metavar="ID", required=True, type=nonempty, help="the buyer's id")
    show.add_argument("--seller", metavar="ID", required=True, type=nonempty,
                      help="the seller's id")
    lookup = command(aliases, "lookup", on_store(alias_lookup), "whose alias an address is")
    lookup.add_argument("address", metavar="ADDRESS", type=address, help="an alias of the relay")


def register(commands: Commands) -> None:
    _seller(commands)
    _buyer(commands)
    _order(commands)
    _alias(commands)
