"""The recipient step, called directly against a real store."""

from __future__ import annotations

import pytest

from relay import replies
from relay.delivery.verp import bounce_address
from relay.message import Transaction
from relay.policy.recipient import Recipient
from relay.replies import Deferred, Refused
from relay.store import Store

KEY = b"k" * 32


def tx(candidate: str) -> Transaction:
    return Transaction(id="t1", peer="127.0.0.1:1", mail_from="owner@acme.example",
                       candidate=candidate)


@pytest.fixture
async def step(store: Store) -> Recipient:
    await store.directory.put_seller("s1", "Acme", "owner@acme.example")
    await store.directory.put_buyer("b1", "bob@buyer.example")
    return Recipient(store.directory, "relay.example", "ops@marketplace.example", KEY)


class TestRecipient:
    async def test_alias_resolves_to_route(self, step: Recipient, store: Store) -> None:
        aliases = await store.directory.aliases("b1", "s1")
        t = tx(aliases.buyer_alias)
        await step(t)
        assert t.route is not None
        assert t.route.recipient == "bob@buyer.example"

    @pytest.mark.parametrize("address", ["x@other.example", "a%b@relay.example"])
    async def test_foreign_or_tricky(self, step: Recipient, address: str) -> None:
        with pytest.raises(Refused) as refused:
            await step(tx(address))
        assert refused.value.reply == replies.S550_NOT_LOCAL

    async def test_unknown(self, step: Recipient) -> None:
        with pytest.raises(Refused) as refused:
            await step(tx("abcdefghjkmnpqrstuvwx@relay.example"))
        assert refused.value.reply == replies.S550_UNKNOWN_ALIAS

    async def test_second_alias_deferred(self, step: Recipient, store: Store) -> None:
        aliases = await store.directory.aliases("b1", "s1")
        t = tx(aliases.buyer_alias)
        await step(t)
        t.candidate = aliases.seller_alias
        with pytest.raises(Deferred) as deferred:
            await step(t)
        assert deferred.value.reply == replies.S452_ONE_ALIAS

    async def test_role_accounts_go_to_admin(self, step: Recipient) -> None:
        t = tx("postmaster@relay.example")
        await step(t)
        assert t.route is not None
        assert (t.route.kind, t.route.recipient) == ("admin", "ops@marketplace.example")

    async def test_signed_bounce_address_names_its_message(self, step: Recipient) -> None:
        t = tx(bounce_address("0123456789abcdef0123456789abcdef", "relay.example", KEY))
        await step(t)
        assert t.route is not None
        assert t.route.kind == "bounce"
        assert t.about == "0123456789abcdef0123456789abcdef"

    async def test_forged_bounce_address_is_unknown(self, step: Recipient) -> None:
        forged = bounce_address("0123456789abcdef0123456789abcdef", "relay.example", b"x" * 32)
        with pytest.raises(Refused) as refused:
            await step(tx(forged))
        assert refused.value.reply == replies.S550_UNKNOWN_ALIAS
