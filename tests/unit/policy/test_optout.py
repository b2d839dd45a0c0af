"""The opt-out and orders steps alone, over a pair whose standing the test sets."""

from __future__ import annotations

import pytest

from relay import replies
from relay.message import Transaction
from relay.model import PairPolicy
from relay.policy.optout import OptOut
from relay.policy.orders import OrdersRequired
from relay.replies import Refused
from tests.unit.policy.test_quota import ROUTE

DOMAIN = "relay.example"
BUYERS = f"<{'b' * 32}@{DOMAIN}>"


class Pair:
    """A PairLookup with one relationship: its standing, and the buyer's relay-issued IDs."""

    def __init__(self, opted_out: bool = False, statuses: tuple[str, ...] = ("unshipped",),
                 buyer_ids: tuple[str, ...] = ()) -> None:
        self.policy = PairPolicy(opted_out, statuses)
        self.buyer_ids = buyer_ids
        self.asked: list[list[str]] = []
        self.reads = 0

    async def pair_policy(self, relationship_id: int) -> PairPolicy:
        self.reads += 1
        return self.policy

    async def buyer_wrote_in(self, relationship_id: int, relay_ids: list[str]) -> bool:
        self.asked.append(relay_ids)
        return any(i in self.buyer_ids for i in relay_ids)


def tx(headers: str = "") -> Transaction:
    body = f"From: owner@acme.example\r\n{headers}Subject: hi\r\n\r\nhello\r\n".encode()
    return Transaction(id="t1", peer="test", mail_from="owner@acme.example", route=ROUTE,
                       received=body)


def optout(pair: Pair) -> OptOut:
    return OptOut(pair, DOMAIN, ("Delivery-Scheduling", "product-customization"),
                  {"delivery-scheduling": ("unshipped",)})


class TestOptOut:
    async def test_a_buyer_who_did_not_opt_out_gets_mail(self) -> None:
        pair = Pair()
        await optout(pair)(tx())
        assert pair.asked == []  # no thread lookup unless needed

    async def test_unsolicited_is_refused(self) -> None:
        with pytest.raises(Refused) as refused:
            await optout(Pair(opted_out=True))(tx())
        assert refused.value.reply == replies.S550_OPTED_OUT

    async def test_only_relay_issued_ids_are_asked_about(self) -> None:
        """IDs at other domains are the sender's word: the store is asked only of ours."""
        pair = Pair(opted_out=True, buyer_ids=(BUYERS,))
        await optout(pair)(tx(f"In-Reply-To: <x@acme.example>\r\nReferences: {BUYERS}\r\n"))
        assert pair.asked == [[BUYERS]]

    async def test_critical_reason_is_marked(self) -> None:
        message = tx("X-Contact-Reason:  delivery-SCHEDULING \r\n")
        await optout(Pair(opted_out=True))(message)
        assert message.contact_reason == "delivery-scheduling"

    @pytest.mark.parametrize(("reason", "statuses"), [
        ("delivery-scheduling", ("shipped",)),  # allowed, but not for this order's status
        ("product-customization", ("unshipped",)),  # critical, but allowed for no status
        ("delivery-scheduling", ()),  # no order at all
    ])
    async def test_critical_reason_not_allowed(self, reason: str,
                                               statuses: tuple[str, ...]) -> None:
        message = tx(f"X-Contact-Reason: {reason}\r\n")
        with pytest.raises(Refused):
            await optout(Pair(opted_out=True, statuses=statuses))(message)
        assert message.contact_reason is None


class TestOrdersRequired:
    async def test_no_order_no_thread_is_refused(self) -> None:
        with pytest.raises(Refused) as refused:
            await OrdersRequired(Pair(statuses=()), DOMAIN)(tx())
        assert refused.value.reply == replies.S550_NO_ORDER

    async def test_any_order_or_a_buyers_thread_passes(self) -> None:
        await OrdersRequired(Pair(statuses=("cancelled",)), DOMAIN)(tx())
        pair = Pair(statuses=(), buyer_ids=(BUYERS,))
        await OrdersRequired(pair, DOMAIN)(tx(f"In-Reply-To: {BUYERS}\r\n"))


class TestTogether:
    async def test_the_pair_is_read_once_per_message(self) -> None:
        """Both rules need the pair's standing: one read serves them."""
        pair = Pair(opted_out=True, statuses=(), buyer_ids=(BUYERS,))
        message = tx(f"In-Reply-To: {BUYERS}\r\n")
        await optout(pair)(message)
        await OrdersRequired(pair, DOMAIN)(message)
        assert pair.reads == 1
