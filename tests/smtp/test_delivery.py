"""Store and forward: what got 250 is delivered once, or its sender hears why not."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from email import policy
from email.parser import BytesParser

import pytest

from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory, compose


async def drained(world: World, seconds: float = 10) -> None:
    """Wait until the queue is empty: the upstream may see a message before it is recorded."""
    async with asyncio.timeout(seconds):
        while await world.relay.store.queue.items():  # noqa: ASYNC110 - polling the store
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
        (item,) = await world.relay.store.queue.items()
        assert item.message_id == message_id
        assert item.attempts >= 1
        assert item.last_error is not None
        await world.upstream.start()
        await world.upstream.handler.wait_for(1, seconds=15)
        await drained(world)
        await asyncio.sleep(1)
        assert len(world.upstream.handler.messages) == 1

    @pytest.mark.parametrize("stage", ["rcpt", "data"])
    async def test_451_then_recovery(self, world: World, stage: str) -> None:
        """A temporary refusal at RCPT or at DATA is retried until it goes through, once."""
        setattr(world.upstream.handler, f"{stage}_reply", "451 4.3.0 try again later")
        await send_one(world)
        await asyncio.sleep(1.5)
        assert world.upstream.handler.messages == []
        (item,) = await world.relay.store.queue.items()
        assert item.last_error is not None
        assert "451" in item.last_error
        setattr(world.upstream.handler, f"{stage}_reply", None)
        await world.upstream.handler.wait_for(1, seconds=15)
        await drained(world)
        assert len(world.upstream.handler.messages) == 1



class TestGreeting:
    async def test_relay_greets_the_upstream_with_its_hostname(self, world: World) -> None:
        """EHLO gives server.hostname, the name the relay's PTR names, not the machine's;
        a reload that changes it greets with the new name."""
        await send_one(world)
        (first,) = await world.upstream.handler.wait_for(1)
        assert first.helo == world.relay.settings.server.hostname == "mx.relay.example"
        settings = world.relay.settings
        await world.relay.reload(dataclasses.replace(settings, server=dataclasses.replace(
            settings.server, hostname="mail.relay.example")))
        await send_one(world)
        _, second = await world.upstream.handler.wait_for(2)
        assert second.helo == "mail.relay.example"

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

    async def test_max_age_reached_sends_a_notice(self, make_world: WorldFactory) -> None:
        """Still deferred at queue.max_age: the sender is told (4.4.7), and retries stop."""
        world = await make_world(queue={"max_age": "2s", "backoff": ["500ms"]})
        world.upstream.handler.refuse[BUYER] = "451 4.2.1 come back later"
        await send_one(world)
        (notice,) = await world.upstream.handler.wait_for(1, seconds=20)
        assert notice.rcpt_tos == [SELLER]
        assert b"4.4.7" in notice.data
        assert BUYER.encode() not in notice.data.lower()
        await drained(world)

    async def test_a_notice_never_bounces(self, world: World) -> None:
        """When the notice itself is refused, nothing more is sent."""
        world.upstream.handler.refuse[BUYER] = "550 5.1.1 unknown"
        world.upstream.handler.refuse[SELLER] = "550 5.1.1 unknown too"
        await send_one(world)
        await asyncio.sleep(2)
        assert world.upstream.handler.messages == []
        assert await world.relay.store.queue.items() == []


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
        assert (await world.relay.store.messages.archived(message_id))["received"] == message
        assert await world.relay.store.queue.items() == []
        await asyncio.sleep(0.5)
        assert world.upstream.handler.messages == []


def remote_bounce(verp: str) -> bytes:
    """An RFC 3464 report as a far-away server would send it, naming the real recipient."""
    return (
        f"From: MAILER-DAEMON@far.example\r\nTo: {verp}\r\nSubject: Undelivered\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; far.example\r\n\r\n"
        f"Final-Recipient: rfc822; {BUYER}\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        f"Diagnostic-Code: smtp; 552 5.2.2 <{BUYER}> mailbox full\r\n\r\n"
        "--b--\r\n"
    ).encode()


class TestReturnedBounces:
    async def test_bounce_at_verp_address_reaches_the_sender_once(self, world: World) -> None:
        """A late bounce is matched to its message and reported in our words, once."""
        await send_one(world)
        (forwarded,) = await world.upstream.handler.wait_for(1)
        verp = forwarded.mail_from
        assert verp.startswith("bounce-")
        async with Client(world.port) as c:
            for _ in range(2):  # the second bounce for one message tells nobody again
                await c.command("MAIL", "FROM:<>")
                assert (await c.rcpt(verp.upper())).code == 250
                assert (await c.data(remote_bounce(verp))).code == 250
        got = await world.upstream.handler.wait_for(2, seconds=15)
        await drained(world)
        await asyncio.sleep(0.5)
        assert len(world.upstream.handler.messages) == 2
        notice = got[1]
        assert notice.rcpt_tos == [SELLER]
        assert BUYER.encode() not in notice.data.lower()
        assert b"5.2.2" in notice.data
        assert world.aliases.buyer_alias.encode() in notice.data

    async def test_forged_bounce_address_is_unknown(self, world: World) -> None:
        async with Client(world.port) as c:
            await c.command("MAIL", "FROM:<>")
            answer = await c.rcpt("bounce-0123456789abcdef0123456789abcdef-0000000000000000"
                                  "@relay.example")
        assert answer.code == 550
        assert answer.text.startswith("5.1.1")
