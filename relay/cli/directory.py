"""`relay seller|buyer|order|alias`: the marketplace's directory, written straight to the store.

A running relay reads the store on every message, so these take effect at once (SPEC §6).
"""

from __future__ import annotations

import argparse

from relay.cli.command import (
    Commands,
    Output,
    address,
    command,
    count,
    group,
    nonempty,
    open_store,
    record,
)
from relay.config import Settings


async def seller_add(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.put_seller(
            args.id, args.name, args.email, args.orders_per_day))


async def seller_authorize(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.authorise(args.id, args.address))


async def seller_revoke(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.revoke(args.id, args.address))


async def buyer_add(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.put_buyer(
            args.id, args.email, args.name, args.language))


async def buyer_opt_out(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.set_opt_out(args.id, True))


async def buyer_opt_in(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.set_opt_out(args.id, False))


async def order_add(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.put_order(
            args.id, args.buyer, args.seller, args.status))


async def alias_show(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.aliases(args.buyer, args.seller))


async def alias_lookup(settings: Settings, args: argparse.Namespace) -> Output:
    async with open_store(settings) as store:
        return record(await store.directory.lookup(args.address))


def _seller(commands: Commands) -> None:
    sellers = group(commands, "seller", "sellers and the addresses they may send from")
    add = command(sellers, "add", seller_add, "create a seller, or update one")
    add.add_argument("id", metavar="ID", type=nonempty)
    add.add_argument("--name", required=True, type=nonempty)
    add.add_argument("--email", metavar="ADDR", required=True, type=address,
                     help="primary address; always authorised to send")
    add.add_argument("--orders-per-day", metavar="N", type=count)
    for name, handler, help in (
        ("authorize", seller_authorize, "let the seller send from another address"),
        ("revoke", seller_revoke, "take an authorised address away again"),
    ):
        parser = command(sellers, name, handler, help)
        parser.add_argument("id", metavar="ID", type=nonempty)
        parser.add_argument("address", metavar="ADDR", type=address)


def _buyer(commands: Commands) -> None:
    buyers = group(commands, "buyer", "buyers and their opt-out")
    add = command(buyers, "add", buyer_add, "create a buyer, or update one")
    add.add_argument("id", metavar="ID", type=nonempty)
    add.add_argument("--email", metavar="ADDR", required=True, type=address)
    add.add_argument("--name")
    add.add_argument("--language", metavar="LANG", help="for templates, e.g. en")
    for name, handler, help in (
        ("opt-out", buyer_opt_out, "stop mail from sellers (threads and critical reasons pass)"),
        ("opt-in", buyer_opt_in, "accept mail from sellers again"),
    ):
        command(buyers, name, handler, help).add_argument("id", metavar="ID", type=nonempty)


def _order(commands: Commands) -> None:
    orders = group(commands, "order", "orders, which tie a buyer to a seller")
    add = command(orders, "add", order_add, "create an order, or update one")
    add.add_argument("id", metavar="ORDER_ID", type=nonempty)
    add.add_argument("--buyer", metavar="ID", required=True, type=nonempty)
    add.add_argument("--seller", metavar="ID", required=True, type=nonempty)
    add.add_argument("--status", type=nonempty, help="default for a new order: unshipped")


def _alias(commands: Commands) -> None:
    aliases = group(commands, "alias", "the relay addresses of a buyer-seller pair")
    show = command(aliases, "show", alias_show, "the pair's two aliases (created on first use)")
    show.add_argument("--buyer", metavar="ID", required=True, type=nonempty)
    show.add_argument("--seller", metavar="ID", required=True, type=nonempty)
    lookup = command(aliases, "lookup", alias_lookup, "whose alias an address is")
    lookup.add_argument("address", metavar="ADDRESS", type=address)


def register(commands: Commands) -> None:
    _seller(commands)
    _buyer(commands)
    _order(commands)
    _alias(commands)
