"""The message path without a socket: a route's steps, then the 250 boundary.

The SMTP front, `relay send` and the HTTP API all hand their messages to one
`Intake`, so every message passes the same policy and content rules. Only the
proof of who is sending differs: SMTP mail passes the RCPT steps (the recipient
and the envelope sender checks); a submission without SMTP names its party, and
the front that calls `submit` vouches for it (the operator, an API key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog

from relay import replies
from relay.addresses import normalise_address
from relay.message import Transaction, has_bare_line_ending, new_id
from relay.model import Refusal, RefusalReply, RouteKind
from relay.pipeline import Pipeline, run
from relay.ports import RefusalLog, RouteLookup
from relay.replies import Consumed, Deferred, Refused, Reply

log = structlog.get_logger("relay.intake")


class Accept(Protocol):
    """The 250 boundary (relay.accept.Acceptor)."""

    async def __call__(self, tx: Transaction, *, deliver: bool) -> None: ...


class Counts(Protocol):
    """What intake counts (relay.metrics.Metrics): each message accepted, each refusal."""

    def accepted(self, kind: RouteKind) -> None: ...

    def refused(self, reply: Reply) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """An accepted message: queued for delivery, or only kept on record (consumed)."""

    id: str
    queued: bool


class Intake:
    """Runs the steps and the 250 boundary; puts refused messages on record.

    A message refused once its route between the two parties is known (at DATA,
    or a submission refused by a step) is logged with its reply and rule and
    nothing of its content (`refusals`). Temporary refusals are logged only for
    submissions, for which they are final: over SMTP the sender's server tries
    again, and the log would fill with one row per retry of a message that is
    later accepted.
    """

    def __init__(self, pipeline: Pipeline, accept: Accept, routes: RouteLookup,
                 refusals: RefusalLog, counts: Counts) -> None:
        self._pipeline = pipeline
        self._accept = accept
        self._routes = routes
        self._refusals = refusals
        self._counts = counts

    async def recipient(self, tx: Transaction, address: str) -> None:
        """Decide on one RCPT address; a refused one leaves `tx.route` as it was.

        Raises Refused or Deferred; on return `tx.route` is where the mail goes.
        """
        tx.candidate = address
        previous = tx.route
        try:
            await run(self._pipeline.rcpt, tx)
        except (Refused, Deferred) as stop:
            tx.route = previous
            self._counts.refused(stop.reply)
            raise

    async def data(self, tx: Transaction) -> Outcome:
        """Run the DATA steps for `tx.route`'s kind, then commit: Refused/Deferred or an Outcome.

        A refusal (5xx) is put on record before it is raised.
        """
        try:
            outcome = await self._data(tx)
        except Refused as refused:
            self._counts.refused(refused.reply)
            await self._record(tx, refused.reply)
            raise
        except Deferred as deferred:
            self._counts.refused(deferred.reply)
            raise
        assert tx.route is not None
        self._counts.accepted(tx.route.kind)
        return outcome

    async def _data(self, tx: Transaction) -> Outcome:
        route = tx.route
        assert route is not None, "a route is decided before the message is read"
        if has_bare_line_ending(tx.received):
            raise Refused(replies.S550_BARE_LINE_ENDING)
        if b"\0" in tx.received:
            # Refused, not removed: no client may send NUL without BINARYMIME, which
            # relay does not offer, so it is a broken or hostile one, and what else it
            # meant by those bytes nobody can tell. The sender hears why.
            raise Refused(replies.S550_NUL)
        try:
            await run(self._pipeline.data[route.kind], tx)
        except Consumed:
            queued = False
            await _give_back(tx)
        except BaseException:
            await _give_back(tx)
            raise
        else:
            queued = True
        # A failed commit keeps what the steps took: it may have committed after all,
        # and counting one message too many is the safe side of a quota.
        await self._accept(tx, deliver=queued)
        log.info("data.accepted", kind=route.kind, size=len(tx.received), queued=queued)
        return Outcome(tx.id, queued)

    async def submit(self, alias: str, data: bytes, *, party: str, sender: str,
                     origin: str, order: str | None = None) -> Outcome:
        """A message from `party` (a seller or buyer id) to `alias`, submitted without SMTP.

        `sender` is the party's address that delivery notices go to; it must be
        one of the party's own. `origin` says who submitted it, for the logs
        (the way the peer does for SMTP). `data` is the message with CRLF lines.
        `order` is the order the message is about, when the front knows it (a
        template sent for an order); the front vouches that it is the pair's.
        """
        route = await self._routes.route(alias)
        if route is None or route.direction is None:
            self._counts.refused(replies.S550_UNKNOWN_ALIAS)
            raise Refused(replies.S550_UNKNOWN_ALIAS)
        writer = route.seller_id if route.direction == "seller-to-buyer" else route.buyer_id
        if party != writer or sender.lower() not in route.sender_addresses:
            self._counts.refused(replies.S550_NOT_AUTHORISED)
            raise Refused(replies.S550_NOT_AUTHORISED)
        tx = Transaction(id=new_id(), peer=origin, mail_from=sender.lower(), route=route,
                         received=data, order_id=order)
        with structlog.contextvars.bound_contextvars(tx=tx.id):
            try:
                return await self.data(tx)
            except Deferred as deferred:
                await self._record(tx, deferred.reply)
                raise

    async def _record(self, tx: Transaction, reply: Reply) -> None:
        """Log a refused message between the parties; a failure to is logged, never raised:
        the refusal stands and its reply goes out all the same."""
        route = tx.route
        if route is None or route.direction is None:
            return
        refusal = Refusal(
            message_id=tx.id, route=route,
            envelope_sender=normalise_address(tx.mail_from) if tx.mail_from else "",
            reply=RefusalReply(reply.code, reply.enhanced, reply.text),
            rule=reply.rule or "unnamed", order_id=tx.order_id)
        try:
            await self._refusals.refused(refusal)
        except Exception:
            log.exception("refusal.not_recorded", rule=refusal.rule, code=reply.code)


async def _give_back(tx: Transaction) -> None:
    """Undo what the steps took for a message that is not queued (a quota reservation)."""
    undo, tx.undo = tx.undo, []
    for step in reversed(undo):
        try:
            await step()
        except Exception:
            # The refusal stands; a count kept too high errs on the safe side.
            log.exception("data.undo_failed")
