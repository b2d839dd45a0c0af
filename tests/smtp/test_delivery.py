"""Store and forward: what got 250 is delivered once, or its sender hears why not."""

from __future__ import annotations

import asyncio
from collections import Counter
from email import policy
from email.parser import BytesParser

from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory, compose


async def drained(world: World, seconds: float = 10) -> None:
    """Wait until the queue is empty: the upstream may see a message before it is recorded."""
    async with asyncio.timeout(seconds):
        while await world.relay.store.queue_items():  # noqa: ASYNC110 - polling the store
            await asyncio.sleep(0.05)


async def send_one(world: World, body: str = "Hello.\n") -> str:
    async with Client(world.port) as c:
        answer = await c.send(SELLER, world.aliases.buyer_alias,
                              compose(SELLER, world.aliases.buyer_alias, body=body))
    assert answer.code == 250, answer
    return answer.text.rsplit(" ", 1)[-1]


class TestRetries:
    async def test_upstream_down_then_back(self, world: World) -> None:
        """Accepted while the upstream is down, queued, delivered once after it returns."""
        await world.upstream.stop()
        message_id = await send_one(world)
        await asyncio.sleep(1.5)  # at least one failed try
        (item,) = await world.relay.store.queue_items()
        assert item.message_id == message_id
        assert item.attempts >= 1
        assert item.last_error is not None
        await world.upstream.start()
        await world.upstream.handler.wait_for(1, seconds=15)
        await drained(world)
        await asyncio.sleep(1)
        assert len(world.upstream.handler.messages) == 1

    async def test_451_at_rcpt_then_recovery(self, world: World) -> None:
        world.upstream.handler.rcpt_reply = "451 4.3.0 try again later"
        await send_one(world)
        await asyncio.sleep(1.5)
        assert world.upstream.handler.messages == []
        world.upstream.handler.rcpt_reply = None
        await world.upstream.handler.wait_for(1, seconds=15)

    async def test_451_at_data_then_recovery(self, world: World) -> None:
        world.upstream.handler.data_reply = "451 4.3.0 try again later"
        await send_one(world)
        await asyncio.sleep(1.5)
        assert world.upstream.handler.messages == []
        world.upstream.handler.data_reply = None
        await world.upstream.handler.wait_for(1, seconds=15)
        await asyncio.sleep(0.5)
        assert len(world.upstream.handler.messages) == 1


class TestNotices:
    async def test_550_sends_the_sender_a_notice_without_the_real_recipient(
        self, world: World
    ) -> None:
        """A permanent refusal reaches the seller as an RFC 3464 report naming only the alias."""
        world.upstream.handler.refuse[BUYER] = f"550 5.1.1 <{BUYER}>: mailbox unknown"
        await send_one(world)
        (notice,) = await world.upstream.handler.wait_for(1, seconds=15)
        assert notice.mail_from == "<>"  # the null sender, as aiosmtpd reports it
        assert notice.rcpt_tos == [SELLER]
        assert BUYER.encode() not in notice.data.lower()
        report = BytesParser(policy=policy.default).parsebytes(notice.data)
        assert report.get_content_type() == "multipart/report"
        assert report.get_param("report-type") == "delivery-status"
        assert str(report["From"]).endswith(f"mailer-daemon@{world.relay.settings.aliases.domain}>")
        assert world.aliases.buyer_alias.encode() in notice.data
        assert b"5.1.1" in notice.data
        await drained(world)

    async def test_a_notice_never_bounces(self, world: World) -> None:
        """When the notice itself is refused, nothing more is sent."""
        world.upstream.handler.refuse[BUYER] = "550 5.1.1 unknown"
        world.upstream.handler.refuse[SELLER] = "550 5.1.1 unknown too"
        await send_one(world)
        await asyncio.sleep(2)
        assert world.upstream.handler.messages == []
        assert await world.relay.store.queue_items() == []


class TestConcurrency:
    async def test_200_messages_from_10_clients_each_delivered_once(
        self, make_world: WorldFactory
    ) -> None:
        world = await make_world(queue={"workers": 4})

        async def client(n: int) -> list[str]:
            ids = []
            async with Client(world.port) as c:
                for i in range(20):
                    message = compose(SELLER, world.aliases.buyer_alias, body=f"c{n} m{i}\n")
                    answer = await c.send(SELLER, world.aliases.buyer_alias, message)
                    assert answer.code == 250, answer
                    ids.append(answer.text.rsplit(" ", 1)[-1])
            return ids

        accepted = [i for ids in await asyncio.gather(*(client(n) for n in range(10)))
                    for i in ids]
        assert len(set(accepted)) == 200
        got = await world.upstream.handler.wait_for(200, seconds=60)
        await asyncio.sleep(1)
        bodies = Counter(BytesParser(policy=policy.default).parsebytes(m.data)
                         .get_content().strip() for m in got)
        assert len(got) == 200
        assert set(bodies.values()) == {1}


class TestAutomaticMail:
    async def test_auto_reply_is_kept_not_passed_on(self, world: World) -> None:
        """A seller's vacation reply is archived and answered 250, but the buyer never sees it."""
        message = compose(SELLER, world.aliases.buyer_alias,
                          extra="Auto-Submitted: auto-replied\r\n", body="I am away.\n")
        async with Client(world.port) as c:
            answer = await c.send(SELLER, world.aliases.buyer_alias, message)
        assert answer.code == 250
        assert "not passed on" in answer.text
        message_id = answer.text.rsplit(" ", 1)[-1]
        assert (await world.relay.store.archived(message_id))["received"] == message
        assert await world.relay.store.queue_items() == []
        await asyncio.sleep(0.5)
        assert world.upstream.handler.messages == []
