"""The sender steps, called directly: envelope and header From."""

from __future__ import annotations

import pytest

from relay import replies
from relay.message import Transaction
from relay.model import Route
from relay.policy.sender import EnvelopeSender, HeaderSender
from relay.replies import Refused
from relay.store import Store


@pytest.fixture
async def routes(store: Store) -> tuple[Route, Route]:
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    await store.directory.authorise("s1", "staff@acme.example")
    await store.directory.put_seller("s2", "Rival", "boss@rival.example")
    await store.directory.put_buyer("b1", "bob@buyer.example")
    aliases = await store.directory.aliases("b1", "s1")
    to_buyer = await store.directory.route(aliases.buyer_alias)
    to_seller = await store.directory.route(aliases.seller_alias)
    assert to_buyer is not None
    assert to_seller is not None
    return to_buyer, to_seller


def tx(route: Route, sender: str, from_header: str | None = None) -> Transaction:
    head = f"From: {from_header}\r\n" if from_header is not None else ""
    return Transaction(id="t", peer="p", mail_from=sender, route=route,
                       received=f"{head}Subject: hi\r\n\r\nbody\r\n".encode())


class TestEnvelopeSender:
    @pytest.mark.parametrize("sender", ["owner@acme.example", "staff@acme.example"])
    async def test_authorised_seller(self, store: Store, routes: tuple[Route, Route],
                                     sender: str) -> None:
        await EnvelopeSender(store.directory)(tx(routes[0], sender))

    async def test_other_address_refused(self, store: Store,
                                         routes: tuple[Route, Route]) -> None:
        with pytest.raises(Refused) as refused:
            await EnvelopeSender(store.directory)(tx(routes[0], "bob@buyer.example"))
        assert refused.value.reply.enhanced == "5.7.1"

    async def test_seller_to_seller(self, store: Store, routes: tuple[Route, Route]) -> None:
        with pytest.raises(Refused) as refused:
            await EnvelopeSender(store.directory)(tx(routes[1], "boss@rival.example"))
        assert refused.value.reply == replies.S550_SELLER_TO_SELLER

    async def test_buyer_to_seller_alias(self, store: Store, routes: tuple[Route, Route]) -> None:
        await EnvelopeSender(store.directory)(tx(routes[1], "bob@buyer.example"))


class TestHeaderSender:
    async def test_matching_from(self, routes: tuple[Route, Route]) -> None:
        await HeaderSender()(tx(routes[0], "owner@acme.example", '"Me" <Staff@Acme.example>'))

    @pytest.mark.parametrize("header", [None, "intern@acme.example",
                                        "owner@acme.example, intern@acme.example"])
    async def test_forged_or_missing_from(self, routes: tuple[Route, Route],
                                          header: str | None) -> None:
        with pytest.raises(Refused) as refused:
            await HeaderSender()(tx(routes[0], "owner@acme.example", header))
        assert refused.value.reply.code == 550
