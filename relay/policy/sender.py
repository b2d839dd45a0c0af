"""Sender checks: only the relationship's own parties may write, on the envelope and in From."""

from __future__ import annotations

from relay import replies
from relay.addresses import header_addresses
from relay.message import Transaction, header_text
from relay.model import Route
from relay.ports import RouteLookup
from relay.replies import Refused


def _route(tx: Transaction) -> Route:
    assert tx.route is not None, "sender checks run after the recipient check"
    return tx.route


class EnvelopeSender:
    """MAIL FROM must be an authorised address of the side the alias expects."""

    def __init__(self, store: RouteLookup) -> None:
        self._store = store

    async def __call__(self, tx: Transaction) -> None:
        route = _route(tx)
        if route.kind in ("admin", "bounce"):
            return
        if not tx.mail_from:
            raise Refused(replies.S550_NULL_SENDER)
        if tx.mail_from in route.sender_addresses:
            return
        if route.kind == "buyer-to-seller" and await self._store.seller_owning(tx.mail_from):
            raise Refused(replies.S550_SELLER_TO_SELLER)
        raise Refused(_not_authorised(route, tx.mail_from))


class HeaderSender:
    """Every address in the From header must be authorised too: mail clients show that one."""

    async def __call__(self, tx: Transaction) -> None:
        route = _route(tx)
        if route.kind == "admin":
            return
        value = header_text(tx.parsed, "From")
        addresses = header_addresses([value]) if value else []
        if not addresses:
            raise Refused(replies.S550_NOT_AUTHORISED.but(
                "The message has no readable From: header"))
        for address in addresses:
            if address not in route.sender_addresses:
                raise Refused(_not_authorised(route, address))


def _not_authorised(route: Route, address: str) -> replies.Reply:
    if route.kind == "seller-to-buyer":
        text = (f"{address} is not an authorised sending address of this seller account: "
                "write from an address the marketplace has on file for you")
    else:
        text = (f"{address} is not the address this conversation belongs to: "
                "reply from the address you used with the marketplace")
    return replies.S550_NOT_AUTHORISED.but(text)
