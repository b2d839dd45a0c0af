"""Composition root: Settings in; store, pipeline, SMTP front and delivery workers out.

Nothing below this module reads settings on its own: each part gets its
section here. Tests build a whole relay in-process with `Relay(settings)`.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import structlog

from relay import health, logs, systemd
from relay.accept import Acceptor
from relay.archive.checkpoints import Checkpointer
from relay.auth.check import SenderCheck
from relay.auth.resolver import LookupHook, NoSystemResolver, Resolver, count_nothing
from relay.auth.resolver import build as build_resolver
from relay.config import ConfigError, Settings, config_path, load
from relay.config.changes import compare
from relay.content.attachments import Attachments
from relay.content.contact import ContactDetails
from relay.content.delivered import Passthrough, Rewrite
from relay.content.html import Html, HtmlPolicy
from relay.content.links import Links
from relay.content.structure import Structure
from relay.content.threads import Threading
from relay.delivery.bounces import Bouncer
from relay.delivery.dkim import Signer
from relay.delivery.heartbeat import Heartbeat
from relay.delivery.reports import BounceReport
from relay.delivery.transport import Replaceable, Transport, create_transport
from relay.delivery.worker import Workers
from relay.dkim_keys import load_key
from relay.errors import StoreUnavailable
from relay.http.monitoring import monitoring_app
from relay.http.server import Listener
from relay.intake import Intake
from relay.listening import cannot_listen
from relay.metrics import Metrics
from relay.model import QuotaRule
from relay.pipeline import Pipeline, Step
from relay.policy.authentication import SenderAuthentication
from relay.policy.automatic import Automatic
from relay.policy.cases import Cases
from relay.policy.loop import HopLimit
from relay.policy.optout import OptOut
from relay.policy.order_of import OrderOf
from relay.policy.orders import OrdersRequired
from relay.policy.quota import DailyQuota
from relay.policy.recipient import Recipient
from relay.policy.sender import EnvelopeSender, HeaderSender
from relay.smtp.handler import Handler
from relay.smtp.server import Connections, protocol_factory, server_tls_context
from relay.store import Store

log = structlog.get_logger("relay.app")

# How long SIGTERM waits for SMTP sessions in progress to finish.
DRAIN_SECONDS = 30.0


def build_pipeline(
    settings: Settings, store: Store, bouncer: Bouncer, verp_key: bytes,
    on_lookup: LookupHook = count_nothing,
) -> Pipeline:
    """The whole policy in one screen: what runs, in order, for each kind of mail.

    Threading comes early: what a message answers decides later steps (opt-out,
    cases), and the rewrite only uses what it found. Cases come after Automatic: an
    auto-reply in a closed case's thread is kept on record, not refused back to a robot;
    and after who may write at all (opt-out, orders), whose refusal says more.
    """
    domain, hostname = settings.aliases.domain, settings.server.hostname
    max_hops = settings.server.max_hops
    policy, content = settings.policy, settings.content
    html = Html(HtmlPolicy.from_settings(content.allowed_tags, content.allowed_attributes))
    # Links and contact details: for the senders in links_apply_to, unless allowed.
    off_platform: list[Step] = []
    if content.links != "allow":
        off_platform.append(Links(content.links, (*content.link_domains, domain)))
    if content.contact_details != "allow":
        off_platform.append(ContactDetails(content.contact_details))
    seller_rules = tuple(off_platform) if "seller" in content.links_apply_to else ()
    buyer_rules = tuple(off_platform) if "buyer" in content.links_apply_to else ()
    # Sender authentication: after the cheap From check, before anything reads the store.
    authenticated = sender_authentication(settings, on_lookup)
    seller_to_buyer: tuple[Step, ...] = (
        HopLimit(max_hops),
        HeaderSender(),
        *authenticated,
        Threading(store.messages),
        OrderOf(store.pairs),
        Automatic(),
        OptOut(store.pairs, domain, policy.critical_reasons, settings.contact_reasons),
        OrdersRequired(store.pairs, domain),
        Cases(store.cases),
        # Last before the content steps: a reservation a later step refuses is given back.
        DailyQuota(store.quota, QuotaRule(policy.quota_per_order, policy.quota_base)),
        Structure(),
        html,
        *seller_rules,
        Attachments(content.attachment_types, content.max_attachment_bytes),
        Rewrite(domain, hostname),
    )
    buyer_to_seller: tuple[Step, ...] = (
        HopLimit(max_hops),
        HeaderSender(),
        *authenticated,
        Threading(store.messages),
        OrderOf(store.pairs),
        Automatic(),
        Cases(store.cases),
        Structure(),
        html,
        *buyer_rules,
        Attachments(content.attachment_types, content.max_attachment_bytes),
        Rewrite(domain, hostname),
    )
    return Pipeline(
        rcpt=(
            Recipient(store.directory, domain, settings.admin.address, verp_key),
            EnvelopeSender(store.directory),
        ),
        data={
            "seller-to-buyer": seller_to_buyer,
            "buyer-to-seller": buyer_to_seller,
            "admin": (HopLimit(max_hops), Passthrough(hostname)),
            "bounce": (HopLimit(max_hops), BounceReport(bouncer)),
        },
    )


def sender_authentication(settings: Settings, on_lookup: LookupHook) -> tuple[Step, ...]:
    """The step, with `auth.require = "dkim-or-spf"`; none (and no DNS at all) otherwise.

    Its DNS resolver is built here, so a reload takes up new `[dns]` settings.
    """
    if settings.auth.require == "none":
        return ()
    try:
        resolver = Resolver(build_resolver(settings.dns), on_lookup)
    except NoSystemResolver as exc:
        raise ConfigError(f"dns.nameservers: not set, and the system names no resolver "
                          f"({exc})") from None
    return (SenderAuthentication(SenderCheck(resolver), settings.server.hostname),)


async def submission_intake(settings: Settings, store: Store) -> Intake:
    """The pipeline `relay serve` runs, for mail submitted without SMTP (`relay send`).

    Nothing is woken on accept: the message waits in the queue, where a running
    relay's workers find it on their next poll.
    """
    key = await store.secrets.key("verp")
    bouncer = Bouncer(store.notices, settings.server.hostname, settings.aliases.domain)
    pipeline = build_pipeline(settings, store, bouncer, key)
    accept = Acceptor(store.messages, settings.aliases.domain, key, lambda: None)
    # Counted in a registry of its own that nobody scrapes: this process serves no metrics.
    return Intake(pipeline, accept, store.directory, store.messages, Metrics())


class Crashed(RuntimeError):
    """A background task failed: the relay stops so that its service manager restarts it."""


class Relay:
    """One relay in this process. `start` serves and delivers; `stop` drains and closes."""

    def __init__(self, settings: Settings, transport: Transport | None = None,
                 reload_from: Callable[[], Settings] | None = None) -> None:
        self.settings = settings
        # Read first: a key that cannot sign is a configuration error before anything opens.
        self.signer = Signer(load_key(settings.dkim))
        self.store = Store(settings.store.url, settings.aliases.length, settings.aliases.domain)
        self.transport = Replaceable(transport or _upstream(settings, self.signer))
        self.bouncer = Bouncer(self.store.notices, settings.server.hostname,
                               settings.aliases.domain)
        self.metrics = Metrics()
        self.workers = Workers(self.store.queue, self.transport, settings.queue, self.bouncer,
                               Heartbeat(self.store.processes), self.metrics)
        archive = settings.archive
        self.checkpoints = Checkpointer(self.store.archive.head, archive.checkpoint_file,
                                        archive.checkpoint_key_file,
                                        archive.checkpoint_interval)
        self.front: Handler | None = None
        self.connections = Connections(settings.server.max_connections,
                                       settings.server.max_connections_per_client)
        self.metrics.sessions_open.set_function(lambda: len(self.connections.open))
        self.monitoring: Listener | None = None
        self._fronts: weakref.WeakSet[Handler] = weakref.WeakSet()  # sessions keep theirs
        self._accept: Acceptor | None = None
        self._verp_key = b""
        self._server: asyncio.Server | None = None
        self._factory: Callable[[], asyncio.Protocol] = _not_serving
        self._running: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._stopped = False
        self._drain_seconds = DRAIN_SECONDS
        self._reload_from = reload_from
        self._reload_wanted = asyncio.Event()
        self.address: tuple[str, int] = settings.server.address

    async def start(self) -> None:
        domain = self.settings.aliases.domain
        # Listen first: a port in use is a configuration error, found before the store.
        self._server = await _listen(lambda: self._factory(), self.settings.server.address)
        await self._serve_metrics()
        tls = server_tls(self.settings)
        self._verp_key = await self.store.secrets.key("verp")
        self._accept = Acceptor(self.store.messages, domain, self._verp_key, self.workers.wake)
        self._open_front(self.settings, tls, self._pipeline(self.settings, self.bouncer))
        self._running = asyncio.create_task(self._run(), name="relay")
        await self._server.start_serving()
        self.address = self._server.sockets[0].getsockname()[:2]
        log.info("relay.started", listen=f"{self.address[0]}:{self.address[1]}")

    async def _serve_metrics(self) -> None:
        """GET /metrics and /healthz on metrics.listen, unless it is "" (off)."""
        address = self.settings.metrics.address
        if address is None:
            return
        app = monitoring_app(self.metrics, self.store.queue.backlog, self.health)
        self.monitoring = Listener(app, address, "metrics.listen")
        await self.monitoring.start()
        log.info("metrics.started", listen=f"{self.monitoring.address[0]}:"
                 f"{self.monitoring.address[1]}")

    async def health(self) -> health.Health:
        """The whole check (/healthz): the store answers and the queue moves."""
        return await health.check(self.store, self.store.queue,
                                  self.settings.metrics.stuck_after)

    def _pipeline(self, settings: Settings, bouncer: Bouncer) -> Pipeline:
        """The steps for new sessions; sender authentication's DNS lookups are counted."""
        return build_pipeline(settings, self.store, bouncer, self._verp_key,
                              self.metrics.dns_lookup)

    def _open_front(self, settings: Settings, tls: ssl.SSLContext | None,
                    pipeline: Pipeline) -> None:
        """New sessions get a front built from `settings`; sessions in progress keep theirs."""
        assert self._accept is not None
        s = settings.server
        self.intake = Intake(pipeline, self._accept, self.store.directory, self.store.messages,
                             self.metrics)
        self.front = Handler(self.intake)
        self._fronts.add(self.front)
        self.connections.limit = s.max_connections
        self.connections.per_client = s.max_connections_per_client
        self._factory = protocol_factory(
            self.front,
            self.connections,
            self.metrics,
            hostname=s.hostname,
            max_message_size=s.max_message_size,
            timeout=s.timeout,
            tls_context=tls,
            require_tls=s.require_tls,
        )

    async def reload(self, new: Settings) -> None:
        """Apply re-read settings to new sessions and deliveries; some keys need a restart.

        Whatever can fail is built first: a bad certificate or DKIM key leaves everything
        as it was. The key is read again even if its settings did not change: a key
        replaced under the same name is taken up.
        """
        change = compare(self.settings, new)
        if change.needs_restart:
            log.warning("config.needs_restart", keys=list(change.needs_restart),
                        detail="unchanged until relay is restarted")
        applied = change.applied
        tls = server_tls(applied)
        dkim_key = load_key(applied.dkim)
        greeting = applied.server.hostname != self.settings.server.hostname
        upstream = (_upstream(applied, self.signer)
                    if "upstream" in change.changed or greeting else None)
        bouncer = Bouncer(self.store.notices, applied.server.hostname, applied.aliases.domain)
        pipeline = self._pipeline(applied, bouncer)
        if "logging" in change.changed:
            logs.configure(applied.logging, applied.aliases.domain)
        self.settings = applied
        self.signer.key = dkim_key
        self.bouncer = bouncer
        self.workers.reconfigure(applied.queue, self.bouncer)
        archive = applied.archive
        self.checkpoints.reconfigure(archive.checkpoint_file, archive.checkpoint_key_file,
                                     archive.checkpoint_interval)
        if upstream is not None:
            await self.transport.replace(upstream)
        self._open_front(applied, tls, pipeline)
        log.info("config.reloaded", changed=list(change.changed))

    def request_reload(self) -> None:
        self._reload_wanted.set()

    async def _reloads(self) -> None:
        """SIGHUP: re-read the file; a bad one is refused in one line and the old one serves."""
        assert self._reload_from is not None
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            systemd.notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            try:
                await self.reload(self._reload_from())
            except ConfigError as exc:
                log.error("config.refused", error=str(exc),
                          detail="the running configuration stays")
            finally:
                systemd.notify("READY=1")

    async def _run(self) -> None:
        """Every background task in one group: when one fails, the relay stops, loudly."""
        async with asyncio.TaskGroup() as group:
            workers = group.create_task(self.workers.run(), name="delivery-workers")
            rest = [group.create_task(self.store.run(), name="store-writers"),
                    group.create_task(self.checkpoints.run(), name="archive-checkpoints")]
            if self._reload_from is not None:
                rest.append(group.create_task(self._reloads(), name="reloads"))
            group.create_task(self._until_stopped(workers, rest), name="shutdown")

    async def _until_stopped(self, workers: asyncio.Task[None],
                             rest: list[asyncio.Task[None]]) -> None:
        """On stop: drain the SMTP sessions, then let the workers finish, then the rest."""
        await self._stopping.wait()
        await self._drain(self._drain_seconds)
        self.workers.stop()
        await workers
        for task in rest:  # the writers outlive the workers' last commits; close ends them
            task.cancel()

    async def _drain(self, seconds: float) -> None:
        """Stop listening; let sessions in progress finish (bounded), then cut the rest."""
        if self._server is None:
            return
        self._server.close()
        for front in self._fronts:
            front.stopping = True
        for session in list(self.connections.open):
            if not session.in_transaction:
                session.close_idle()
        with suppress(TimeoutError):
            await asyncio.wait_for(self.connections.drained(), seconds)
        for session in list(self.connections.open):
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait(self) -> None:
        """Until the relay has stopped; raises what made a background task fail."""
        if self._running is not None:
            await asyncio.shield(self._running)

    async def stop(self, drain: float = DRAIN_SECONDS) -> None:
        """Stop listening, let sessions in progress finish (bounded), then stop delivering.

        Stopping a relay that has stopped does nothing.
        """
        if self._stopped:
            return
        self._stopped = True
        self._drain_seconds = drain
        self.request_stop()
        try:
            await self.wait()
        finally:
            await self._drain(0)  # after a failure the shutdown task did not get to it
            await self.close()
            log.info("relay.stopped")

    async def close(self) -> None:
        """Let go of the socket, the upstream and the store (also after a failed start)."""
        if self._server is not None:
            self._server.close()
        if self.monitoring is not None:
            await self.monitoring.stop()
        await self.transport.close()
        await self.store.close()


def server_tls(settings: Settings) -> ssl.SSLContext | None:
    """The STARTTLS context for new sessions; unreadable files are a configuration error."""
    s = settings.server
    if s.tls_cert is None or s.tls_key is None:
        return None
    try:
        return server_tls_context(str(s.tls_cert), str(s.tls_key))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"server.tls_cert: cannot load it with server.tls_key ({reason})"
                          ) from None


def _upstream(settings: Settings, signer: Signer) -> Transport:
    try:
        return create_transport(settings.upstream, signer, settings.server.hostname)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"upstream.ca_file: cannot load it ({reason})") from None


def _not_serving() -> asyncio.Protocol:
    raise RuntimeError("the server accepted a connection before it was started")


async def _listen(
    factory: Callable[[], asyncio.Protocol], address: tuple[str, int]
) -> asyncio.Server:
    """A bound, not yet serving socket; trouble binding is worded for the admin."""
    host, port = address
    try:
        return await asyncio.get_running_loop().create_server(
            factory, host, port, start_serving=False
        )
    except OSError as exc:
        raise cannot_listen(exc, host, port, "server.listen") from None


async def serve(settings: Settings, config: Path | None = None) -> None:
    """Run until SIGTERM or SIGINT, telling systemd when ready, reloading and stopping.

    READY=1 once the socket listens and the store answers (relay.health); with
    WatchdogSec= the event loop pings systemd, so a stalled loop gets restarted.

    SIGHUP re-reads `config` (the file `settings` came from) and applies it.

    A background task that fails (a bug) stops the relay with the traceback in
    the log and a non-zero exit, so that systemd restarts it.
    """
    logs.configure(settings.logging, settings.aliases.domain)
    path = config_path(config)
    relay = Relay(settings, reload_from=lambda: load(path))
    try:
        await relay.start()
    except BaseException:
        await relay.close()
        raise
    # The store half of the check only: a queue stuck behind a down upstream must not
    # keep a restarted relay from taking mail in (relay.health).
    state = await health.check(relay.store)
    if not state.ok:  # READY=1 promises a relay that can accept mail, not only a socket
        await relay.stop(drain=0)
        raise StoreUnavailable(state.problems[0])
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, relay)
    loop.add_signal_handler(signal.SIGHUP, relay.request_reload)
    systemd.notify("READY=1")
    interval = systemd.watchdog_interval()
    pings = (asyncio.create_task(systemd.watchdog(interval), name="watchdog")
             if interval is not None else None)
    try:
        await _serve_until_stopped(relay, loop)
    finally:
        if pings is not None:
            pings.cancel()


def _stop(relay: Relay) -> None:
    """SIGTERM: tell systemd at once that the relay is stopping, then drain."""
    systemd.notify("STOPPING=1")
    relay.request_stop()


async def _serve_until_stopped(relay: Relay, loop: asyncio.AbstractEventLoop) -> None:
    """Until SIGTERM (drain, then stop) or a failed background task (Crashed)."""
    failure: Exception | None = None
    try:
        await relay.wait()
    except Exception as exc:
        failure = exc
        log.critical("relay.crashed", exc_info=exc)
        systemd.notify("STOPPING=1")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with suppress(Exception):
                loop.remove_signal_handler(sig)
    if failure is None:
        await relay.stop()
        return
    with suppress(Exception):  # the failure is logged; it would only be raised again
        await relay.stop()
    raise Crashed("a background task failed (the log has the traceback)")
