"""Whether a seller's message answers the buyer: shared by the opt-out and the orders rule.

`standing` is read once per message for every step that needs the pair (the opt-out,
the orders rule, and OrderOf for the order a subject names).
"""

from __future__ import annotations

from relay.addresses import message_ids
from relay.message import Transaction, header_text
from relay.model import PairPolicy
from relay.ports import PairLookup


async def standing(tx: Transaction, pairs: PairLookup, relationship_id: int) -> PairPolicy:
    """The pair's opt-out and orders, read once per message for the steps that share it."""
    if tx.pair is None:
        tx.pair = await pairs.pair_policy(relationship_id)
    return tx.pair


def relay_ids(tx: Transaction, domain: str) -> list[str]:
    """The relay-issued Message-IDs a message names in In-Reply-To and References.

    Only these count: the seller's client knows them only from mail the relay
    delivered, while any other ID is the sender's own word.
    """
    suffix = f"@{domain}>".lower()
    named = message_ids(header_text(tx.parsed, "In-Reply-To"))
    named += message_ids(header_text(tx.parsed, "References"))
    return [i for i in dict.fromkeys(named) if i.lower().endswith(suffix)]


async def in_buyers_thread(tx: Transaction, pairs: PairLookup, domain: str) -> bool:
    """Whether `tx` replies in a thread of its relationship the buyer started or wrote in."""
    route = tx.route
    if route is None or route.relationship_id is None:
        return False
    ids = relay_ids(tx, domain)
    return bool(ids) and await pairs.buyer_wrote_in(route.relationship_id, ids)
