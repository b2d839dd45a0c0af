"""GET /metrics and /healthz on the metrics listener, scraped after real SMTP traffic."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, get_args

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from relay import replies
from relay.metrics import DnsOutcome
from relay.model import DeliveryOutcome, RouteKind
from relay.replies import S452_ONE_ALIAS
from relay.store import Store
from tests.conftest import DOMAIN, PG_URL, _admin
from tests.smtp.conftest import BUYER, SELLER, Client, World, WorldFactory, compose

pytestmark = pytest.mark.usefixtures("quiet_relay_logs")

ON = {"listen": "127.0.0.1:0"}  # a free port: relays under test never take 9125
OUTSIDER = "someone@elsewhere.example"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def get(world: World, path: str, method: str = "GET") -> tuple[int, str]:
    assert world.relay.monitoring is not None
    host, port = world.relay.monitoring.address
    async with aiohttp.ClientSession() as session, session.request(
        method, f"http://{host}:{port}{path}"
    ) as response:
        return response.status, await response.text()


async def scrape(world: World) -> Samples:
    status, text = await get(world, "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 15) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polling over HTTP and the store
            await asyncio.sleep(0.1)


class TestMetrics:
    async def test_counters_histogram_and_gauges_after_real_traffic(
        self, make_world: WorldFactory
    ) -> None:
        """Accepted by kind, refused by rule and code class, deliveries by outcome, the
        latency histogram and the queue gauges all match what the SMTP traffic did."""
        world = await make_world(metrics=ON, server={"max_message_size": 20_000})
        sink = world.upstream.handler
        sink.refuse[SELLER] = "451 4.2.1 mailbox busy, try later"  # buyer-to-seller defers
        sink.refuse["ops@marketplace.example"] = "550 5.1.1 no such mailbox"  # admin bounces
        to_buyer, to_seller = world.aliases.buyer_alias, world.aliases.seller_alias
        async with Client(world.port) as c:
            assert value(await scrape(world), "relay_smtp_sessions_open") == 1
            for _ in range(2):
                assert (await c.send(SELLER, to_buyer, compose(SELLER, to_buyer))).code == 250
            assert (await c.send(BUYER, to_seller, compose(BUYER, to_seller))).code == 250
            postmaster = f"postmaster@{DOMAIN}"
            assert (await c.send(OUTSIDER, postmaster, compose(OUTSIDER, postmaster))).code == 250
            assert (await c.send(SELLER, f"nobody@{DOMAIN}", b"")).code == 550
            assert (await c.send(SELLER, "friend@elsewhere.example", b"")).code == 550
            link = compose(SELLER, to_buyer, body="See https://cheaper.example/deal\n")
            assert (await c.send(SELLER, to_buyer, link)).code == 550
            big = compose(SELLER, to_buyer, body=("x" * 70 + "\n") * 400)
            assert (await c.send(SELLER, to_buyer, big)).code == 552  # counted by aiosmtpd's side
            assert (await c.mail(SELLER)).code == 250
            assert (await c.rcpt(to_buyer)).code == 250
            assert (await c.rcpt(postmaster)).code == S452_ONE_ALIAS.code
            await c.command("RSET")

        async def settled() -> bool:
            s = await scrape(world)
            return (value(s, "relay_deliveries_total", outcome="deferred") >= 1
                    and value(s, "relay_deliveries_total", outcome="bounced") == 1
                    and value(s, "relay_deliveries_total", outcome="delivered")
                    == len(sink.messages) == 3  # two to the buyer, the notice to OUTSIDER
                    and value(s, "relay_queue_depth") == 1)

        await until(settled)
        s = await scrape(world)
        accepted = {kind: value(s, "relay_messages_accepted_total", kind=kind)
                    for kind in ("seller-to-buyer", "buyer-to-seller", "admin", "bounce")}
        assert accepted == {"seller-to-buyer": 2, "buyer-to-seller": 1, "admin": 1, "bounce": 0}
        refused = {(dict(labels)["reason"], dict(labels)["code_class"]): v
                   for (name, labels), v in s.items()
                   if name == "relay_messages_refused_total" and v}
        assert refused == {("unknown-alias", "5xx"): 1, ("not-local", "5xx"): 1,
                           ("offsite-link", "5xx"): 1, ("one-recipient", "4xx"): 1,
                           ("message-too-large", "5xx"): 1}
        assert value(s, "relay_messages_refused_total", reason="opted-out",
                     code_class="5xx") == 0  # every rule's series is there from the start
        assert value(s, "relay_deliveries_total", outcome="expired") == 0
        assert value(s, "relay_delivery_latency_seconds_count") == 3
        assert 0 < value(s, "relay_delivery_latency_seconds_sum") < 60
        assert value(s, "relay_delivery_latency_seconds_bucket", le="0.1") <= 3
        assert value(s, "relay_delivery_latency_seconds_bucket", le="86400.0") == 3
        assert 0 < value(s, "relay_queue_oldest_age_seconds") < 60  # the deferred one waits
        for outcome in ("ok", "nxdomain", "nodata", "timeout", "servfail", "error"):
            assert value(s, "relay_dns_lookups_total", outcome=outcome) == 0
        assert value(s, "relay_smtp_sessions_open") == 0

        # No address, alias or message id in any label value.
        labels = {v for (_, pairs) in s for _, v in pairs}
        local_parts = {a.split("@")[0] for a in (to_buyer, to_seller, SELLER, BUYER)}
        assert not [v for v in labels if "@" in v or any(p in v for p in local_parts)]
        assert labels <= {*_label_values(), *_le_bounds(s)}

        sink.refuse.clear()  # the deferred message goes through: the queue is empty again
        await until(lambda: _queue_empty(world))
        s = await scrape(world)
        assert (value(s, "relay_queue_depth"), value(s, "relay_queue_oldest_age_seconds")) == (0, 0)

    async def test_anything_but_the_two_paths_is_not_found(self, make_world: WorldFactory) -> None:
        world = await make_world(metrics=ON)
        assert (await get(world, "/"))[0] == 404
        assert (await get(world, "/metrics/extra"))[0] == 404
        assert (await get(world, "/v1/sellers"))[0] == 404
        assert (await get(world, "/metrics", "POST"))[0] == 405

    async def test_off_when_listen_is_empty(self, make_world: WorldFactory) -> None:
        """listen = "" serves no metrics; mail flows all the same."""
        world = await make_world(metrics={"listen": ""})
        assert world.relay.monitoring is None
        async with Client(world.port) as c:
            to = world.aliases.buyer_alias
            assert (await c.send(SELLER, to, compose(SELLER, to))).code == 250
        await world.upstream.handler.wait_for(1)


async def _queue_empty(world: World) -> bool:
    return not await world.relay.store.queue.items()


def _label_values() -> set[str]:
    """Every label value the metrics may carry: kinds, outcomes, rule names, code classes."""
    rules = {r.rule for r in vars(replies).values()
             if isinstance(r, replies.Reply) and r.rule is not None}
    return {*get_args(RouteKind), *get_args(DeliveryOutcome), *get_args(DnsOutcome), *rules,
            "4xx", "5xx"}


def _le_bounds(samples: Samples) -> set[str]:
    return {v for (name, pairs) in samples if name.endswith("_bucket") for k, v in pairs
            if k == "le"}


class TestHealth:
    async def test_ok_then_stuck_past_stuck_after_then_ok_again(
        self, make_world: WorldFactory
    ) -> None:
        """503 while the oldest queued message is older than metrics.stuck_after, 200 before
        and once the upstream takes it."""
        world = await make_world(metrics={**ON, "stuck_after": "2s"})
        assert await get(world, "/healthz") == (200, json.dumps({"status": "ok"}))
        world.upstream.handler.rcpt_reply = "451 4.3.0 try again later"
        to = world.aliases.buyer_alias
        async with Client(world.port) as c:
            assert (await c.send(SELLER, to, compose(SELLER, to))).code == 250
        assert (await get(world, "/healthz"))[0] == 200  # queued, not yet stuck

        async def stuck() -> bool:
            return (await get(world, "/healthz"))[0] == 503

        await until(stuck, seconds=10)
        status, body = await get(world, "/healthz")
        answer = json.loads(body)
        assert (status, answer["status"]) == (503, "unavailable")
        [problem] = answer["problems"]
        assert "longer than metrics.stuck_after (2s)" in problem
        world.upstream.handler.rcpt_reply = None
        await world.upstream.handler.wait_for(1)
        await until(lambda: _queue_empty(world))
        assert (await get(world, "/healthz"))[0] == 200


@pytest.fixture
async def own_database(postgres_url: str) -> AsyncIterator[str]:
    """A migrated PostgreSQL database of this test's own, which it may drop under the relay.

    `postgres_url` skips the test, or fails it, as the other PostgreSQL tests are.
    """
    name = f"relay_health_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    store = Store(url, 35, DOMAIN)
    try:
        await store.upgrade()
    finally:
        await store.close()
    yield url
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgresql
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_healthz_fails_while_the_store_is_unreachable(
    make_world: WorldFactory, own_database: str
) -> None:
    """The database dropped under a running relay: /healthz says 503 and why; /metrics still
    answers, its queue gauges NaN rather than stale."""
    world = await make_world(metrics=ON, store={"url": own_database})
    assert (await get(world, "/healthz"))[0] == 200
    name = make_url(own_database).database
    await _admin(f'DROP DATABASE "{name}" WITH (FORCE)')
    status, body = await get(world, "/healthz")
    answer: dict[str, Any] = json.loads(body)
    assert (status, answer["status"]) == (503, "unavailable")
    [problem] = answer["problems"]
    assert "does not exist" in problem
    s = await scrape(world)
    depth = value(s, "relay_queue_depth")
    assert depth != depth  # NaN: unknown, not the last value seen
