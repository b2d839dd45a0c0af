"""Recipient checks at RCPT: our domain only, known aliases only, one alias per transaction."""

from __future__ import annotations

from relay import replies
from relay.addresses import is_relaying_trick, split
from relay.delivery.verp import is_bounce_form, parse_bounce_address
from relay.message import Transaction
from relay.model import Route, RouteKind
from relay.ports import RouteLookup
from relay.replies import Deferred, Refused

# RFC 5321 §4.5.1 and RFC 2142: these must reach a person, whoever writes.
ROLE_ACCOUNTS = frozenset({"postmaster", "abuse"})


class Recipient:
    """Resolve the RCPT address to a Route, or refuse it in words the sender understands."""

    def __init__(self, store: RouteLookup, domain: str, admin_address: str,
                 verp_key: bytes) -> None:
        self._store = store
        self._domain = domain
        self._admin = admin_address
        self._key = verp_key

    async def __call__(self, tx: Transaction) -> None:
        address = tx.candidate
        local, domain = split(address)
        if domain != self._domain or not local or is_relaying_trick(local):
            raise Refused(replies.S550_NOT_LOCAL)
        if tx.route is not None and tx.route.alias != address:
            raise Deferred(replies.S452_ONE_ALIAS)
        if local in ROLE_ACCOUNTS:
            tx.route = self._role_route(address, "admin", self._admin)
            return
        if is_bounce_form(local):
            # A forged or mangled bounce address is as unknown as any other.
            tx.about = parse_bounce_address(address, self._domain, self._key)
            if tx.about is None:
                raise Refused(replies.S550_UNKNOWN_ALIAS)
            tx.route = self._role_route(address, "bounce", "")
            return
        route = await self._store.route(address)
        if route is None:
            raise Refused(replies.S550_UNKNOWN_ALIAS)
        tx.route = route

    def _role_route(self, address: str, kind: RouteKind, recipient: str) -> Route:
        return Route(
            alias=address,
            kind=kind,
            relationship_id=None,
            buyer_id=None,
            seller_id=None,
            recipient=recipient,
            sender_addresses=(),
            sender_name="",
            sender_alias=address,
        )
