"""The relay's Prometheus metrics: one registry per relay, counted where each event happens.

The registry is the relay's own, never prometheus_client's global one: tests run
several relays in one process, and a reload builds parts anew. Every label is a
bounded enum (a route kind, a rule name, an outcome): no address, alias or message
id ever becomes a label value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from relay import replies
from relay.model import Backlog, DeliveryOutcome, RouteKind
from relay.replies import Reply

# What the resolver's hook reports for each lookup (relay.auth).
DnsOutcome = Literal["ok", "nxdomain", "nodata", "timeout", "servfail", "error"]
# From a tenth of a second (a local upstream) to a day (retried past long outages).
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600,
                   12 * 3600, 86400)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The counters, gauges and histogram of SPEC §3's [metrics], and the events that move them."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._accepted = Counter(
            "relay_messages_accepted", "Messages answered 250 (queued, or kept on record), "
            "by route kind.", ["kind"], registry=registry)
        self._refused = Counter(
            "relay_messages_refused", "Recipients and messages refused, by the refusing "
            "rule; code_class 4xx (the sender retries) or 5xx.", ["reason", "code_class"],
            registry=registry)
        self._deliveries = Counter(
            "relay_deliveries", "Delivery attempts upstream, by outcome.", ["outcome"],
            registry=registry)
        self.queue_depth = Gauge(
            "relay_queue_depth", "Messages queued and not yet delivered (read when scraped).",
            registry=registry)
        self.queue_oldest_age = Gauge(
            "relay_queue_oldest_age_seconds", "Seconds the oldest queued message has "
            "waited, 0 when the queue is empty (read when scraped).", registry=registry)
        self._latency = Histogram(
            "relay_delivery_latency_seconds", "From acceptance to delivered upstream.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.sessions_open = Gauge(
            "relay_smtp_sessions_open", "SMTP sessions open now.", registry=registry)
        self._dns = Counter(
            "relay_dns_lookups", "DNS lookups, by outcome.", ["outcome"], registry=registry)
        # Every series of a bounded label set exists from the start, at 0: a rate()
        # or an absent() alert then works before the first event of its kind.
        for kind in get_args(RouteKind):
            self._accepted.labels(kind)
        for outcome in get_args(DeliveryOutcome):
            self._deliveries.labels(outcome)
        for dns in get_args(DnsOutcome):
            self._dns.labels(dns)
        for reply in _rules():
            self._refused.labels(*_refusal_labels(reply))

    def accepted(self, kind: RouteKind) -> None:
        self._accepted.labels(kind).inc()

    def refused(self, reply: Reply) -> None:
        self._refused.labels(*_refusal_labels(reply)).inc()

    def delivery(self, outcome: DeliveryOutcome, queued_at: datetime | None = None) -> None:
        """One delivery's outcome; a delivered one also observes its time since `queued_at`."""
        self._deliveries.labels(outcome).inc()
        if outcome == "delivered" and queued_at is not None:
            latency = (datetime.now(UTC) - queued_at).total_seconds()
            self._latency.observe(max(0.0, latency))

    def dns_lookup(self, outcome: DnsOutcome) -> None:
        """The resolver's hook: one call per lookup."""
        self._dns.labels(outcome).inc()

    def queue(self, backlog: Backlog | None) -> None:
        """The queue gauges as of now; None (the store did not answer) makes them NaN, not stale."""
        if backlog is None:
            self.queue_depth.set(float("nan"))
            self.queue_oldest_age.set(float("nan"))
            return
        self.queue_depth.set(backlog.depth)
        self.queue_oldest_age.set(backlog.oldest_age(datetime.now(UTC)))

    def exposition(self) -> bytes:
        """The Prometheus text format (CONTENT_TYPE) of everything above."""
        return generate_latest(self.registry)


def _refusal_labels(reply: Reply) -> tuple[str, str]:
    return reply.rule or "unnamed", "5xx" if reply.permanent else "4xx"


def _rules() -> list[Reply]:
    """One refusal per rule and code class, from the reply vocabulary."""
    seen: dict[tuple[str, str], Reply] = {}
    for value in vars(replies).values():
        if isinstance(value, Reply) and value.rule is not None:
            seen.setdefault(_refusal_labels(value), value)
    return list(seen.values())
