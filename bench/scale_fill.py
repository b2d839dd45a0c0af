"""Fill a store with a generated World through the store's own functions.

Parties and relationships go through `relay.store.directory` (the functions the
CLI's `seller add`, `buyer add` and `alias show` run), messages through
`relay.store.messages.accept` — the 250 boundary's own write, which archives
both forms (and whatever the archive keeps beside them) and queues delivery —
then `message_log.mark_no_response_needed` and the queue's claim and settle.

accept() stamps its rows with the store's clock; here that clock reads each
message's generated arrival time, so one accept() call per message (many per
transaction, in arrival order) gives every row its own time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from bench.procs import BenchError
from bench.scale_world import Message, World
from relay.model import Accepted, ProcessIdentity, Route
from relay.store import Store, directory, message_log, messages, routes

DOMAIN = "relay.example"
ALIAS_LENGTH = 35
PER_TRANSACTION = 500
BODY_BYTES = 5 * 1024
_WORDS = (
    "order parcel delivery tracking number size colour refund return label invoice "
    "warehouse courier address thanks please could you would help question arrived "
    "damaged box item shop replacement week days tomorrow today morning evening sorry "
    "update shipped customs fee receipt exchange instructions photo attached confirm"
)


@dataclass(frozen=True)
class Filled:
    messages: int
    archive_bytes: int
    seconds: float
    per_second: float


def _text_pool(rng: random.Random) -> str:
    """Prose-like text to cut bodies from: as compressible as mail, cheap to slice."""
    words = _WORDS.split()
    lines, line = [], []
    for _ in range(40_000):
        line.append(rng.choice(words))
        if len(line) >= rng.randrange(8, 14):
            lines.append(" ".join(line).capitalize() + ".")
            line = []
    return "\r\n".join(lines)


class _Bodies:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._pool = _text_pool(rng)

    def text(self) -> str:
        start = self._rng.randrange(0, len(self._pool) - BODY_BYTES)
        return self._pool[start:start + BODY_BYTES - 600]  # the headers make up the rest


def _mail(sender: str, recipient: str, m: Message, message_id: str, body: str) -> bytes:
    reply = f"In-Reply-To: <{m.parent}@{DOMAIN}>\r\n" if m.parent else ""
    return (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: {m.subject}\r\n"
        f"Date: {m.at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: {message_id}\r\n{reply}MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        f"\r\nHello,\r\n\r\n{body}\r\n\r\nKind regards\r\n"
    ).encode()


def _accepted(m: Message, route: Route, bodies: _Bodies) -> Accepted:
    body = bodies.text()
    real_sender = route.sender_addresses[0]
    original = f"<{m.id}.orig@{real_sender.partition('@')[2]}>"
    relay_id = f"<{m.id}@{DOMAIN}>"
    return Accepted(
        message_id=m.id, route=route, envelope_sender=real_sender, subject=m.subject,
        original_message_id=original, relay_message_id=relay_id, parent_id=m.parent,
        received=_mail(real_sender, route.alias, m, original, body),
        delivered=_mail(route.sender_alias, route.recipient, m, relay_id, body),
        envelope_from=f"bounce-{m.id}@{DOMAIN}",
    )


@contextmanager
def _clock() -> Iterator[Callable[[datetime], None]]:
    """accept()'s clock, set per message; restored afterwards."""
    names = vars(messages)
    real = names["utcnow"]
    now = [real()]
    names["utcnow"] = lambda: now[0]
    try:
        yield lambda at: now.__setitem__(0, at)
    finally:
        names["utcnow"] = real


def _parties(session: Session, world: World) -> None:
    for seller in world.sellers:
        directory.put_seller(session, seller, f"Shop {seller}", f"{seller}@shop.example", 20)
    for i, buyer in enumerate(world.buyers):
        language = ("en", "de", "fr", "es", "ja")[i % 5]
        directory.put_buyer(session, buyer, f"{buyer}@mailbox.example", f"Buyer {i}", language)
    for buyer, seller in world.relationships:
        directory.relationship(session, buyer, seller, ALIAS_LENGTH, DOMAIN)


async def _routes(store: Store, world: World) -> list[tuple[Route, Route]]:
    """Per relationship: (buyer-to-seller route, seller-to-buyer route)."""
    pairs = []
    for buyer, seller in world.relationships:
        aliases = await store.directory.aliases(buyer, seller)
        pairs.append((aliases.seller_alias, aliases.buyer_alias))
    found: dict[str, Route] = {}
    flat = [alias for pair in pairs for alias in pair]
    for start in range(0, len(flat), 400):
        chunk = flat[start:start + 400]
        found.update(await store.database.read(partial(routes.routes, aliases=chunk)))
    return [(found[to_seller], found[to_buyer]) for to_seller, to_buyer in pairs]


def _write(connection: Connection, batch: list[tuple[datetime, Accepted]],
           set_clock: Callable[[datetime], None]) -> None:
    for at, accepted in batch:
        set_clock(at)
        messages.accept(connection, [accepted])


def _mark(session: Session, ids: list[str]) -> None:
    for message_id in ids:
        message_log.mark_no_response_needed(session, message_id)


async def _deliver(store: Store) -> None:
    """Settle every queued delivery through the queue's claim and settle, as workers do."""
    me = await store.processes.register(ProcessIdentity("bench", 0, None, None),
                                        datetime.now(UTC))
    while claimed := await store.queue.claim(datetime.now(UTC), timedelta(minutes=5), 256, me):
        await asyncio.gather(*(store.queue.delivered(d) for d in claimed))


async def fill(store: Store, world: World, say: Callable[[str], None]) -> Filled:
    await store.upgrade()
    await store.database.run(partial(_parties, world=world))
    pair_routes = await _routes(store, world)
    bodies = _Bodies(random.Random(7))
    started = time.perf_counter()
    archived = 0
    with _clock() as set_clock:
        batch: list[tuple[datetime, Accepted]] = []
        for n, m in enumerate(world.messages, 1):
            to_seller, to_buyer = pair_routes[m.relationship]
            route = to_seller if m.direction == "buyer-to-seller" else to_buyer
            accepted = _accepted(m, route, bodies)
            archived += len(accepted.received) + len(accepted.delivered)
            batch.append((m.at, accepted))
            if len(batch) == PER_TRANSACTION or n == len(world.messages):
                await store.database.run_connection(
                    partial(_write, batch=batch, set_clock=set_clock))
                batch = []
            if n % 20_000 == 0:
                say(f"  {n} messages accepted ({n / (time.perf_counter() - started):.0f}/s)")
    accept_seconds = time.perf_counter() - started
    newest = await store.messages.records(everything=True, limit=1)
    if not newest or newest[0].received_at != world.messages[-1].at:
        raise BenchError("accept() no longer stamps rows with messages.utcnow(): the filled "
                         "store's times are not the generated ones; adjust bench.scale_fill")
    marked = [m.id for m in world.messages if m.no_response_needed]
    for start in range(0, len(marked), PER_TRANSACTION):
        await store.database.run(partial(_mark, ids=marked[start:start + PER_TRANSACTION]))
    await _deliver(store)
    count = len(world.messages)
    return Filled(count, archived, accept_seconds, count / accept_seconds)
