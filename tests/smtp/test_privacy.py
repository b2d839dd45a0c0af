"""The privacy invariant end to end: hostile messages through the running relay to upstream."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.smtp.conftest import Client, World
from tests.unit.content.messages import BUYER, SELLER, SELLER_OTHER, assert_private
from tests.unit.content.test_rewrite_invariant import hostile

_FROM = re.compile(rb"^From:.*\r\n", re.IGNORECASE | re.MULTILINE)


def as_sent_by(raw: bytes, sender: str) -> bytes:
    """The generated message with one From header: the sender's own, as a client writes it."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    head = _FROM.sub(b"", head + b"\r\n").rstrip(b"\r\n")
    return f"From: Me <{sender}>\r\n".encode() + head + sep + body


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=hostile(), seller_writes=st.booleans(), sender_case=st.booleans())
async def test_delivered_mail_never_shows_the_senders_address(
    world: World, raw: bytes, seller_writes: bool, sender_case: bool
) -> None:
    """Over SMTP, whatever the placement, the delivered copy names only aliases."""
    store = world.relay.store
    await store.directory.put_seller("shop", "Shop", SELLER)
    await store.directory.authorise("shop", SELLER_OTHER)
    await store.directory.put_buyer("buyer", BUYER, "Buyer")
    await store.directory.put_order("order", "buyer", "shop")  # a seller writes about one
    aliases = await store.directory.aliases("buyer", "shop")
    sender = SELLER if seller_writes else BUYER
    alias = aliases.buyer_alias if seller_writes else aliases.seller_alias
    route = await store.directory.route(alias)
    assert route is not None
    before = len(world.upstream.handler.messages)
    envelope_sender = sender.upper() if sender_case else sender
    async with Client(world.port) as client:
        answer = await client.send(envelope_sender, alias, as_sent_by(raw, sender))
    event(f"answered {answer.code}")
    if answer.code == 554:  # refused as unreadable: nothing leaks by not being sent
        return
    assert answer.code == 250, answer
    delivered = (await world.upstream.handler.wait_for(before + 1))[before]
    assert delivered.rcpt_tos == [route.recipient]
    assert sender not in delivered.mail_from.lower()
    assert_private(delivered.data, route)
