"""Cases over SMTP (SPEC §6): mail joins the case of its time or of its thread, never opens one.

Each message is written with its own Message-ID, by which the test finds its
archived record; replies name the relay-issued ID the recipient saw.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text

from relay import replies
from relay.replies import Refused
from tests.smtp.conftest import BUYER, SELLER, Client, World, compose
from tests.smtp.test_policy import used_today
from tests.smtp.test_replies import same


async def _row(world: World, original: str) -> dict[str, Any]:
    """The archived record of the message the client wrote as `original`."""
    def read(connection: Connection) -> dict[str, Any]:
        row = connection.execute(
            text("SELECT id, case_id, relay_message_id, status FROM messages "
                 "WHERE original_message_id = :m"), {"m": original}).one()
        return dict(row._mapping)

    return await world.relay.store.database.run_connection(read)


async def _case_of(world: World, original: str) -> str | None:
    case_id = (await _row(world, original))["case_id"]
    return None if case_id is None else str(case_id)


async def _count(world: World) -> int:
    def read(connection: Connection) -> int:
        return int(connection.execute(text("SELECT count(*) FROM messages")).scalar_one())

    return await world.relay.store.database.run_connection(read)


class Party:
    """One side of the pair writing to the other's alias."""

    def __init__(self, world: World, sender: str, alias: str) -> None:
        self.world, self.sender, self.alias = world, sender, alias

    async def write(self, message_id: str, *, reply_to: str | None = None,
                    extra: str = "") -> Any:
        """Send a message; `reply_to` names a message (by its Message-ID as written) it answers,
        through the relay-issued ID the recipient's client knows."""
        if reply_to is not None:
            parent = (await _row(self.world, reply_to))["relay_message_id"]
            extra += f"In-Reply-To: {parent}\r\nReferences: {parent}\r\n"
        async with Client(self.world.port) as c:
            return await c.send(self.sender, self.alias, compose(
                self.sender, self.alias, message_id=message_id, extra=extra))


@pytest.fixture
def seller(world: World) -> Party:
    return Party(world, SELLER, world.aliases.buyer_alias)


@pytest.fixture
def buyer(world: World) -> Party:
    return Party(world, BUYER, world.aliases.seller_alias)


async def _open(world: World) -> str:
    return (await world.relay.store.cases.open("b1", "s1", "o1", "Parcel")).id


async def _close(world: World, case: str) -> None:
    await world.relay.store.cases.move(int(case), "resolved")
    await world.relay.store.cases.move(int(case), "closed")


class TestJoining:
    async def test_mail_never_opens_a_case(self, world: World, seller: Party,
                                           buyer: Party) -> None:
        assert (await seller.write("<s1@acme-shop.example>")).code == 250
        assert (await buyer.write("<b1@mailbox.example>",
                                  reply_to="<s1@acme-shop.example>")).code == 250
        assert await _case_of(world, "<s1@acme-shop.example>") is None
        assert await _case_of(world, "<b1@mailbox.example>") is None
        assert await world.relay.store.cases.records() == []

    async def test_both_directions_join_the_open_case(self, world: World, seller: Party,
                                                      buyer: Party) -> None:
        """New messages and replies, from either side, join the case open when exchanged."""
        assert (await seller.write("<before@acme-shop.example>")).code == 250
        case = await _open(world)
        assert (await buyer.write("<b1@mailbox.example>")).code == 250
        assert (await seller.write("<s1@acme-shop.example>",
                                   reply_to="<b1@mailbox.example>")).code == 250
        assert await _case_of(world, "<before@acme-shop.example>") is None
        assert await _case_of(world, "<b1@mailbox.example>") == case
        assert await _case_of(world, "<s1@acme-shop.example>") == case
        (listed,) = await world.relay.store.cases.records()
        assert listed.messages == 2

    async def test_a_reply_to_mail_of_no_case_joins_the_open_one(
        self, world: World, seller: Party, buyer: Party
    ) -> None:
        await seller.write("<before@acme-shop.example>")
        case = await _open(world)
        assert (await buyer.write("<b1@mailbox.example>",
                                  reply_to="<before@acme-shop.example>")).code == 250
        assert await _case_of(world, "<b1@mailbox.example>") == case

    async def test_a_resolved_case_still_takes_mail(self, world: World, seller: Party,
                                                    buyer: Party) -> None:
        case = await _open(world)
        await world.relay.store.cases.move(int(case), "resolved")
        assert (await buyer.write("<b1@mailbox.example>")).code == 250
        assert (await seller.write("<s1@acme-shop.example>",
                                   reply_to="<b1@mailbox.example>")).code == 250
        assert await _case_of(world, "<b1@mailbox.example>") == case
        assert await _case_of(world, "<s1@acme-shop.example>") == case

    async def test_after_a_close_the_new_case_takes_the_new_threads(
        self, world: World, seller: Party, buyer: Party
    ) -> None:
        """After a close and a new opening, new threads and their replies join the new case."""
        old = await _open(world)
        await seller.write("<s1@acme-shop.example>")
        await _close(world, old)
        new = await _open(world)
        assert (await seller.write("<s2@acme-shop.example>")).code == 250
        assert (await buyer.write("<b2@mailbox.example>",
                                  reply_to="<s2@acme-shop.example>")).code == 250
        assert await _case_of(world, "<s2@acme-shop.example>") == new
        assert await _case_of(world, "<b2@mailbox.example>") == new


class TestClosed:
    @pytest.mark.parametrize("side", ["buyer", "seller"])
    async def test_a_reply_in_a_closed_cases_thread_is_refused(
        self, world: World, seller: Party, buyer: Party, side: str
    ) -> None:
        """550 5.7.1 saying the case is closed and a new message starts a new conversation."""
        case = await _open(world)
        await seller.write("<s1@acme-shop.example>")
        await buyer.write("<b1@mailbox.example>", reply_to="<s1@acme-shop.example>")
        await _close(world, case)
        before = await _count(world)
        writer = buyer if side == "buyer" else seller
        parent = "<s1@acme-shop.example>" if side == "buyer" else "<b1@mailbox.example>"
        answer = await writer.write("<late@x.example>", reply_to=parent)
        same(answer, replies.S550_CASE_CLOSED)
        assert "closed" in answer.text
        assert "new message (not a reply)" in answer.text
        # On record as refused (relay.intake), in no case: the case still has its two.
        assert await _count(world) == before + 1
        (listed,) = await world.relay.store.cases.records()
        assert listed.messages == 2

    async def test_a_new_message_after_the_close_joins_no_case(
        self, world: World, seller: Party, buyer: Party
    ) -> None:
        case = await _open(world)
        await seller.write("<s1@acme-shop.example>")
        await _close(world, case)
        assert (await buyer.write("<b1@mailbox.example>")).code == 250
        assert (await seller.write("<s2@acme-shop.example>",
                                   reply_to="<b1@mailbox.example>")).code == 250
        assert await _case_of(world, "<b1@mailbox.example>") is None
        assert await _case_of(world, "<s2@acme-shop.example>") is None

    async def test_a_reply_is_refused_even_while_another_case_is_open(
        self, world: World, seller: Party, buyer: Party
    ) -> None:
        old = await _open(world)
        await seller.write("<s1@acme-shop.example>")
        await _close(world, old)
        await _open(world)
        same(await buyer.write("<b1@mailbox.example>", reply_to="<s1@acme-shop.example>"),
             replies.S550_CASE_CLOSED)

    async def test_an_auto_reply_in_the_thread_is_kept_not_refused(
        self, world: World, seller: Party, buyer: Party
    ) -> None:
        """No refusal goes back to a robot: the out-of-office is archived as ever."""
        case = await _open(world)
        await seller.write("<s1@acme-shop.example>")
        await _close(world, case)
        answer = await buyer.write("<ooo@mailbox.example>", reply_to="<s1@acme-shop.example>",
                                   extra="Auto-Submitted: auto-replied\r\n")
        assert answer.code == 250
        assert answer.text.startswith(f"{replies.S250_KEPT.enhanced} {replies.S250_KEPT.text}")
        assert (await _row(world, "<ooo@mailbox.example>"))["status"] == "consumed"

    async def test_a_submitted_reply_is_refused_the_same_way(
        self, world: World, seller: Party
    ) -> None:
        """`relay send` and the API hand mail to the same intake: the same refusal."""
        case = await _open(world)
        await seller.write("<s1@acme-shop.example>")
        await _close(world, case)
        alias = world.aliases.buyer_alias
        message = compose(SELLER, alias, extra="In-Reply-To: <s1@acme-shop.example>\r\n")
        with pytest.raises(Refused) as refused:
            await world.relay.intake.submit(alias, message, party="s1", sender=SELLER,
                                            origin="test")
        assert refused.value.reply == replies.S550_CASE_CLOSED


class TestWithPolicy:
    """Cases beside opt-out and the quota: the refusal that says most, and no quota spent."""

    async def test_opt_out_speaks_first_outside_the_buyers_threads(
        self, world: World, seller: Party
    ) -> None:
        """The seller's own closed thread to a buyer who opted out: the opt-out is the answer."""
        case = await _open(world)
        await seller.write("<s1@acme-shop.example>")
        await _close(world, case)
        await world.relay.store.directory.set_opt_out("b1", True)
        used = await used_today(world)
        same(await seller.write("<s2@acme-shop.example>", reply_to="<s1@acme-shop.example>"),
             replies.S550_OPTED_OUT)
        assert await used_today(world) == used

    async def test_a_closed_case_refuses_a_reply_opt_out_would_let_through(
        self, world: World, seller: Party, buyer: Party
    ) -> None:
        """A reply in the buyer's thread passes opt-out, and the closed case refuses it,
        before the quota counts it."""
        case = await _open(world)
        await buyer.write("<b1@mailbox.example>")
        assert (await seller.write("<s1@acme-shop.example>",
                                   reply_to="<b1@mailbox.example>")).code == 250
        await _close(world, case)
        await world.relay.store.directory.set_opt_out("b1", True)
        used = await used_today(world)
        same(await seller.write("<s2@acme-shop.example>", reply_to="<b1@mailbox.example>"),
             replies.S550_CASE_CLOSED)
        assert await used_today(world) == used
        await world.relay.store.directory.set_opt_out("b1", False)
        assert (await seller.write("<s3@acme-shop.example>")).code == 250
        assert await used_today(world) == used + 1
