"""A marketplace's message history, generated in memory: parties, threads, arrival times.

Deterministic for a seed. Relationships are many and mostly quiet, a few are
hot (thousands of messages) and one seller owns a tenth of them; threads go
both ways, buyers wait minutes to days for an answer, some never get one and
some are marked no-response-needed. Everything is relative to `now` so the
last day holds unanswered (pending) messages as a live store does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from relay.model import Direction

SPAN = timedelta(days=60)  # the history's length, ending now
HOT = 5  # relationships that carry a large share each
HOT_SHARE = 0.03  # of all messages, for each hot relationship
MESSAGES_PER_RELATIONSHIP = 50  # for the relationship count: 100,000 -> 2,000
SUBJECTS = (
    "Where is my order {order}?", "Question about the size of item {order}",
    "Order {order} arrived damaged", "Can I change the delivery address for {order}?",
    "Return request for order {order}", "Invoice for order {order}",
    "Your order {order} has shipped", "Customisation options for {order}",
)


@dataclass
class Message:
    id: str
    relationship: int  # index into World.relationships
    direction: Direction
    at: datetime
    subject: str
    parent: str | None
    no_response_needed: bool = False


@dataclass
class World:
    sellers: list[str]
    buyers: list[str]
    relationships: list[tuple[str, str]]  # (buyer, seller)
    messages: list[Message] = field(default_factory=list)  # in arrival order

    @property
    def hot_seller(self) -> str:
        return self.sellers[0]

    @property
    def hot_relationship(self) -> tuple[str, str]:
        """The relationship with the most messages: the one a dispute exports."""
        counts = [0] * len(self.relationships)
        for m in self.messages:
            counts[m.relationship] += 1
        return self.relationships[max(range(len(counts)), key=counts.__getitem__)]

    def quiet_seller(self) -> str:
        """A seller with messages but few of them (a quarter of the way up by count)."""
        counts: dict[str, int] = {}
        for m in self.messages:
            seller = self.relationships[m.relationship][1]
            counts[seller] = counts.get(seller, 0) + 1
        ranked = sorted(counts, key=lambda s: (counts[s], s))
        return ranked[len(ranked) // 4]

    def buyer_of_most(self) -> str:
        """The buyer with the most messages, for `message list --buyer`."""
        counts: dict[str, int] = {}
        for m in self.messages:
            buyer = self.relationships[m.relationship][0]
            counts[buyer] = counts.get(buyer, 0) + 1
        return max(counts, key=counts.__getitem__)


def _parties(rng: random.Random, count: int) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    sellers = [f"seller-{i:04d}" for i in range(max(3, count // 10))]
    buyers = [f"buyer-{i:05d}" for i in range(max(5, count * 3 // 4))]
    pairs: set[tuple[str, str]] = set()
    ordered: list[tuple[str, str]] = []
    while len(ordered) < count:
        # A tenth of the relationships belong to the first seller, a big shop, and so
        # does the first, the hottest (see _budgets): its seller view is the deepest.
        big = not ordered or rng.random() < 0.1
        seller = sellers[0] if big else rng.choice(sellers)
        pair = (rng.choice(buyers), seller)
        if pair not in pairs:
            pairs.add(pair)
            ordered.append(pair)
    return sellers, buyers, ordered


def _budgets(rng: random.Random, total: int, relationships: int) -> list[int]:
    """Messages per relationship: HOT hot ones, the rest spread unevenly over the others."""
    hot = min(HOT, relationships // 10) if total >= 1000 else 0
    budgets = [int(total * HOT_SHARE)] * hot
    if budgets:  # the first, the big shop's, is the hottest of all
        budgets[0] = int(budgets[0] * 1.3)
    rest = total - sum(budgets)
    weights = [rng.paretovariate(2.0) for _ in range(relationships - hot)]
    scale = rest / sum(weights)
    budgets += [max(1, round(w * scale)) for w in weights]
    return budgets


def _delay(rng: random.Random) -> timedelta:
    """How long the other party takes to reply: mostly hours, a fifth over a day."""
    roll = rng.random()
    if roll < 0.75:
        return timedelta(minutes=rng.lognormvariate(4.5, 1.0))  # median 1.5 h, <24 h
    if roll < 0.95:
        return timedelta(hours=rng.uniform(24.0, 96.0))
    return timedelta(minutes=rng.uniform(1.0, 20.0))  # quick back and forth


def _thread(rng: random.Random, relationship: int, budget: int, start: datetime,
            now: datetime, new_id: list[str]) -> list[Message]:
    """One conversation: a first message, then replies until it ends or reaches now."""
    order = f"{rng.randrange(100, 999)}-{rng.randrange(1000000, 9999999)}"
    topic = rng.choice(SUBJECTS).format(order=order)
    direction: Direction = "buyer-to-seller" if rng.random() < 0.8 else "seller-to-buyer"
    out: list[Message] = []
    at, parent = start, None
    length = min(budget, 1 + int(rng.expovariate(1 / 3)))
    for _ in range(length):
        if at > now:
            break
        ident = new_id.pop()
        subject = topic if parent is None else f"Re: {topic}"
        message = Message(ident, relationship, direction, at, subject, parent)
        out.append(message)
        if direction == "buyer-to-seller":
            roll = rng.random()
            if roll < 0.05:  # "thanks!": nothing to answer
                message.no_response_needed = True
                break
            if roll < 0.12:  # never answered
                break
        parent = ident
        at = at + _delay(rng)
        direction = "seller-to-buyer" if direction == "buyer-to-seller" else "buyer-to-seller"
    return out


def generate(total: int, now: datetime, seed: int = 14) -> World:
    """About `total` messages (exactly, or fewer when threads run into now)."""
    rng = random.Random(seed)
    count = max(10, total // MESSAGES_PER_RELATIONSHIP)
    sellers, buyers, relationships = _parties(rng, count)
    budgets = _budgets(rng, total, len(relationships))
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(sum(budgets) + 64)]
    messages: list[Message] = []
    for index, budget in enumerate(budgets):
        left = budget
        while left > 0:
            start = now - SPAN * rng.random()
            thread = _thread(rng, index, left, start, now, ids)
            if not thread:
                continue
            messages += thread
            left -= len(thread)
    messages.sort(key=lambda m: m.at)
    return World(sellers, buyers, relationships, messages[:total])
