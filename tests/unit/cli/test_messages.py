"""`relay message list|no-response-needed` and `relay stats response-time` through the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from relay.operations import connect
from tests.conftest import SettingsFactory
from tests.unit.cli.runner import Relay, one_line_error
from tests.unit.operations.test_messages import _send

FIELDS = {"id", "direction", "buyer", "seller", "order", "case", "subject", "received_at",
          "status", "response_needed"}


def _seed(relay: Relay, store_url: str, make_settings: SettingsFactory) -> datetime:
    """Two buyer messages of b1-s1, the second answered by the seller; returns the first's time."""
    relay.ok("seller", "add", "s1", "--name", "Acme Shop", "--email", "owner@acme.example")
    relay.ok("buyer", "add", "b1", "--email", "bob@buyer.example")
    now = datetime.now(UTC).replace(microsecond=0)

    async def seed() -> None:
        async with connect(make_settings(store={"url": store_url})) as ctx:
            await _send(ctx, "m1", now - timedelta(hours=30))
            await _send(ctx, "m2", now - timedelta(hours=2))
            await _send(ctx, "m3", now - timedelta(hours=1), from_buyer=False, parent="m2")

    asyncio.run(seed())
    return now - timedelta(hours=30)


class TestMessageList:
    def test_json_is_spec_array_and_parties_are_ids(
        self, relay: Relay, store_url: str, make_settings: SettingsFactory
    ) -> None:
        first = _seed(relay, store_url, make_settings)
        (waiting,) = relay.ok("message", "list")
        assert set(waiting) == FIELDS
        assert waiting == {
            "id": "m1", "direction": "buyer-to-seller", "buyer": "b1", "seller": "s1",
            "order": None, "case": None, "subject": "about m1",
            "received_at": first.isoformat(), "status": "queued", "response_needed": True,
        }
        everything = relay.ok("message", "list", "--all", "--seller", "s1")
        assert [(m["id"], m["response_needed"]) for m in everything] == [
            ("m3", False), ("m2", False), ("m1", True)]
        page = relay.ok("message", "list", "--all", "--limit", "2", "--before", "m3")
        assert [m["id"] for m in page] == ["m2", "m1"]
        out = relay("message", "list", "--all").out
        assert "owner@acme.example" not in out
        assert "bob@buyer.example" not in out

    def test_no_response_needed_then_the_default_list_is_empty(
        self, relay: Relay, store_url: str, make_settings: SettingsFactory
    ) -> None:
        _seed(relay, store_url, make_settings)
        marked = relay.ok("message", "no-response-needed", "m1")
        assert (marked["id"], marked["response_needed"]) == ("m1", False)
        assert relay.ok("message", "list") == []
        assert relay("message", "list").out == "no messages\n"

    def test_bad_input_is_one_line(self, relay: Relay) -> None:
        for args, status in (
            (("message", "list", "--buyer", "nobody"), 4),
            (("message", "list", "--before", "nope"), 4),
            (("message", "list", "--limit", "0"), 2),
            (("message", "list", "--limit", "x"), 2),
            (("message", "no-response-needed", "nope"), 4),
            (("message", "show", "nope"), 4),
            (("message", "show", "nope", "--as-received"), 4),
            (("stats", "response-time", "--seller", "nobody"), 4),
            (("stats", "response-time"), 2),
            (("stats", "response-time", "--seller", "s1", "--days", "-1"), 2),
        ):
            one_line_error(relay(*args, "--json"), status)


class TestResponseTime:
    def test_prints_spec_shape(
        self, relay: Relay, store_url: str, make_settings: SettingsFactory
    ) -> None:
        _seed(relay, store_url, make_settings)
        got = relay.ok("stats", "response-time", "--seller", "s1")
        assert got == {"seller": "s1", "days": 30, "messages": 2, "answered_within_24h": 1,
                       "pending": 0, "rate": 0.5}
        assert relay.ok("stats", "response-time", "--seller", "s1", "--days", "1") == {
            "seller": "s1", "days": 1, "messages": 1, "answered_within_24h": 1,
            "pending": 0, "rate": 1.0}


class TestMessageShow:
    def test_json_adds_aliases_headers_and_text(
        self, relay: Relay, store_url: str, make_settings: SettingsFactory
    ) -> None:
        _seed(relay, store_url, make_settings)
        aliases = relay.ok("alias", "show", "--buyer", "b1", "--seller", "s1")
        shown = relay.ok("message", "show", "m1")
        assert set(shown) == FIELDS | {"sender", "recipient", "headers", "text", "reply",
                                       "rule"}
        assert (shown["reply"], shown["rule"]) == (None, None)
        assert (shown["id"], shown["sender"], shown["recipient"]) == (
            "m1", aliases["buyer_alias"], aliases["seller_alias"])
        plain = relay("message", "show", "m3")
        assert plain.status == 0
        assert f"sender: {aliases['seller_alias']}" in plain.out
        received = relay("message", "show", "m1", "--as-received")
        assert (received.status, received.out) == (0, "x\n")
