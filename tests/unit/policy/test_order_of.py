"""The order a message names: a template's, one of the pair's in the subject, its parent's."""

from __future__ import annotations

import dataclasses

import pytest

from relay.message import Transaction
from relay.model import PairPolicy
from relay.policy.order_of import OrderOf, named_order
from tests.unit.policy.test_optout import Pair
from tests.unit.policy.test_quota import ROUTE

ORDERS = ("o1", "o2", "111-2223334-5556667")


def tx(subject: str | None, *, order: str | None = None,
       parent_order: str | None = None) -> Transaction:
    head = "" if subject is None else f"Subject: {subject}\r\n"
    body = f"From: owner@acme.example\r\n{head}\r\nhello\r\n".encode()
    return Transaction(id="t1", peer="test", mail_from="owner@acme.example", route=ROUTE,
                       received=body, order_id=order, parent_order_id=parent_order)


def pair() -> Pair:
    found = Pair()
    found.policy = PairPolicy(False, ("unshipped",) * 3, ORDERS)
    return found


@pytest.mark.parametrize(("subject", "named"), [
    ("Your order o1 has shipped", "o1"),
    ("Re: [o2] question", "o2"),
    ("about o1.", "o1"),
    ("o2, then o1", "o2"),  # the first named
    ("Order 111-2223334-5556667 delayed", "111-2223334-5556667"),
    ("o10 and xo1 and o1x", None),  # whole tokens only
    ("x-o1 or o1-2 or o1_", None),
    ("O1 arrived", None),  # the case as stored
    ("2223334", None),
    ("Hello", None),
])
def test_named_order(subject: str, named: str | None) -> None:
    assert named_order(subject, ORDERS) == named


class TestPrecedence:
    async def test_the_subject_names_an_order_of_the_pair(self) -> None:
        message = tx("About o2")
        await OrderOf(pair())(message)
        assert message.order_id == "o2"

    async def test_a_submissions_order_comes_first(self) -> None:
        message = tx("About o2", order="o1", parent_order="o2")
        found = pair()
        await OrderOf(found)(message)
        assert (message.order_id, found.reads) == ("o1", 0)

    async def test_the_subject_beats_the_parent(self) -> None:
        message = tx("Re: and o2?", parent_order="o1")
        await OrderOf(pair())(message)
        assert message.order_id == "o2"

    async def test_otherwise_the_parents(self) -> None:
        message = tx("Re: thanks", parent_order="o1")
        await OrderOf(pair())(message)
        assert message.order_id == "o1"

    async def test_none_named_none_inherited(self) -> None:
        message = tx("An order of another pair: o9")
        await OrderOf(pair())(message)
        assert message.order_id is None

    async def test_no_subject_no_read(self) -> None:
        message, found = tx(None, parent_order="o2"), pair()
        await OrderOf(found)(message)
        assert (message.order_id, found.reads) == ("o2", 0)

    async def test_the_pair_is_read_once_for_every_rule(self) -> None:
        """The opt-out and orders rules reuse the standing read here."""
        message, found = tx("About o1"), pair()
        await OrderOf(found)(message)
        assert message.pair is not None
        await OrderOf(found)(dataclasses.replace(message, order_id=None))
        assert found.reads == 1

    async def test_role_routes_name_none(self) -> None:
        admin = dataclasses.replace(ROUTE, kind="admin", relationship_id=None)
        message = dataclasses.replace(tx("About o1"), route=admin)
        await OrderOf(pair())(message)
        assert message.order_id is None
