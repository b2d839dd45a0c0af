"""The queue operations: dropping a message bounces it to its sender inside the operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from relay.errors import NotFound
from relay.operations import Context
from relay.operations import queue as ops
from tests.unit.store.test_queue import accept

MESSAGE = "0123456789abcdef0123456789abcdef"


class TestQueue:
    async def test_list_and_retry(self, ctx: Context) -> None:
        await accept(ctx.store, MESSAGE)
        (item,) = await ops.list_queue(ctx)
        assert (item.message_id, item.recipient) == (MESSAGE, "bob@buyer.example")
        await ops.retry(ctx, MESSAGE)

    async def test_drop_queues_a_notice_to_the_sender(self, ctx: Context) -> None:
        await accept(ctx.store, MESSAGE)
        dropped = await ops.drop(ctx, MESSAGE)
        assert dropped.message == MESSAGE
        (item,) = await ops.list_queue(ctx)
        assert (item.message_id, item.recipient) == (dropped.notice, "owner@acme.example")
        notice = (await ctx.store.messages.archived(item.message_id))["delivered"]
        assert b"removed from the queue by an operator" in notice

    @pytest.mark.parametrize("verb", [ops.retry, ops.drop])
    async def test_unknown_message_is_not_found(
        self, ctx: Context, verb: Callable[[Context, str], Awaitable[object]]
    ) -> None:
        with pytest.raises(NotFound, match="not in the queue"):
            await verb(ctx, "nosuchmessage")
