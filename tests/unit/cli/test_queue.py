"""`relay queue list|retry|drop` against a store with one queued message."""

from __future__ import annotations

import asyncio

import pytest

from relay.store import Store
from tests.unit.cli.runner import Relay, one_line_error
from tests.unit.store.test_queue import accept


@pytest.fixture
def queued(store_url: str) -> str:
    async def put() -> None:
        store = Store(store_url, 35, "relay.example")
        try:
            await accept(store, "0123456789abcdef0123456789abcdef")
        finally:
            await store.close()

    asyncio.run(put())
    return "0123456789abcdef0123456789abcdef"


class TestQueue:
    def test_list_shows_the_waiting_message(self, relay: Relay, queued: str) -> None:
        (item,) = relay.ok("queue", "list")
        assert item["message_id"] == queued
        assert item["recipient"] == "bob@buyer.example"
        assert item["attempts"] == 0

    def test_empty_queue(self, relay: Relay) -> None:
        assert relay.ok("queue", "list") == []
        assert relay("queue", "list").out.strip() == "the queue is empty"

    def test_retry(self, relay: Relay, queued: str) -> None:
        assert relay.ok("queue", "retry", queued) == {"message": queued, "status": "queued"}

    def test_drop_tells_the_sender(self, relay: Relay, queued: str) -> None:
        """Dropping is a permanent failure: a notice to the seller takes the message's place."""
        result = relay.ok("queue", "drop", queued)
        assert result["status"] == "bounced"
        (item,) = relay.ok("queue", "list")
        assert item["message_id"] == result["notice"]
        assert item["recipient"] == "owner@acme.example"

    @pytest.mark.parametrize("verb", ["retry", "drop"])
    def test_unknown_message_is_not_found(self, relay: Relay, verb: str) -> None:
        line = one_line_error(relay("queue", verb, "nosuchmessage"), 4)
        assert "not in the queue" in line
