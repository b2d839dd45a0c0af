"""GET /metrics (Prometheus text) and GET /healthz (relay.health as JSON); nothing else.

`health_response` is what any /healthz of the relay answers, so that the API's
(SPEC §7) and this one cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from relay.errors import StoreError
from relay.health import Health
from relay.metrics import CONTENT_TYPE, Metrics
from relay.model import Backlog

log = structlog.get_logger("relay.metrics")


def health_response(health: Health) -> web.Response:
    """200 {"status": "ok"}, or 503 with one sentence per problem."""
    if health.ok:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable", "problems": list(health.problems)},
                             status=503)


def monitoring_app(metrics: Metrics, backlog: Callable[[], Awaitable[Backlog]],
                   health: Callable[[], Awaitable[Health]]) -> web.Application:
    """The metrics listener's application: the queue is read from the store at each scrape."""

    async def scrape(request: web.Request) -> web.Response:
        try:
            metrics.queue(await backlog())
        except StoreError as exc:
            log.warning("metrics.queue_unread", error=str(exc))
            metrics.queue(None)
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    async def healthz(request: web.Request) -> web.Response:
        return health_response(await health())

    app = web.Application()
    app.router.add_get("/metrics", scrape, allow_head=False)
    app.router.add_get("/healthz", healthz, allow_head=False)
    return app
