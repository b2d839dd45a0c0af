"""Refused messages go on record with their reply and rule, and a failure to record changes
nothing of the refusal."""

from __future__ import annotations

import dataclasses

import pytest

from relay import replies
from relay.intake import Intake
from relay.metrics import Metrics
from relay.model import Refusal, RefusalReply, Route
from relay.pipeline import Pipeline
from relay.replies import Deferred, Refused, Reply
from tests.unit.policy.test_quota import BODY, ROUTE, Recorded, Refusals, intake, stop, tx

# Replies of the session itself (connection limits, command syntax, internal errors):
# they stop no message between the parties, so they name no rule.
SESSION_REPLIES = {"S421_SHUTTING_DOWN", "S421_TIMEOUT", "S421_TOO_MANY",
                   "S421_TOO_MANY_COMMANDS", "S421_TOO_MANY_ERRORS",
                   "S421_TOO_MANY_FROM_CLIENT", "S451_INTERNAL", "S501_CONTROL_CHARACTER",
                   "S502_NO_AUTH", "S553_BAD_RECIPIENT", "S553_BAD_SENDER",
                   "S553_RECIPIENT_TOO_LONG", "S553_SENDER_TOO_LONG"}


class Routes:
    async def route(self, alias: str) -> Route | None:
        return ROUTE if alias == ROUTE.alias else None

    async def seller_owning(self, address: str) -> str | None:
        return None


class Failing:
    async def refused(self, refusal: Refusal) -> None:
        raise OSError("the store went away")


def test_every_refusal_names_its_rule_and_variants_keep_it() -> None:
    refusals = {name: value for name, value in vars(replies).items()
                if isinstance(value, Reply) and value.code >= 400}
    unnamed = sorted(n for n, r in refusals.items() if r.rule is None and n not in SESSION_REPLIES)
    assert unnamed == []
    assert replies.daily_limit(7).rule == "quota-exceeded"
    assert replies.S554_TOO_DEEP.rule == "malformed"
    # The rule stays off the wire.
    assert str(replies.S550_OPTED_OUT).startswith("550 5.7.1 The buyer")


class TestRecorded:
    async def test_a_refusal_is_logged_with_its_reply_and_rule(self) -> None:
        refusals = Refusals()
        with pytest.raises(Refused) as raised:
            await intake([stop(Refused(replies.S550_OPTED_OUT))], Recorded(), refusals).data(tx())
        assert raised.value.reply == replies.S550_OPTED_OUT
        [logged] = refusals.logged
        assert logged == Refusal(
            message_id="t1", route=ROUTE, envelope_sender="owner@acme.example",
            reply=RefusalReply(550, "5.7.1", replies.S550_OPTED_OUT.text), rule="opted-out")

    async def test_a_refusal_before_the_steps_is_logged_too(self) -> None:
        refusals = Refusals()
        bare = dataclasses.replace(tx(), received=BODY.replace(b"\r\nhello", b"\nhello"))
        with pytest.raises(Refused):
            await intake([], Recorded(), refusals).data(bare)
        assert [r.rule for r in refusals.logged] == ["bare-line-ending"]

    async def test_a_deferral_over_smtp_is_not_logged(self) -> None:
        """The sender's server retries: one row per retry would bury the log."""
        refusals = Refusals()
        with pytest.raises(Deferred):
            await intake([stop(Deferred(replies.daily_limit(5)))], Recorded(),
                         refusals).data(tx())
        assert refusals.logged == []

    async def test_a_deferred_submission_is_logged_it_is_final(self) -> None:
        refusals = Refusals()
        pipeline = Pipeline(rcpt=(), data={
            "seller-to-buyer": (stop(Deferred(replies.daily_limit(5))),)})
        with pytest.raises(Deferred):
            await Intake(pipeline, Recorded(), Routes(), refusals, Metrics()).submit(
                ROUTE.alias, BODY, party="s1", sender="Owner@acme.example", origin="test")
        [logged] = refusals.logged
        assert (logged.rule, logged.reply.code, logged.envelope_sender) == (
            "quota-exceeded", 450, "owner@acme.example")

    async def test_mail_to_the_admin_is_not_logged(self) -> None:
        refusals = Refusals()
        admin = dataclasses.replace(ROUTE, kind="admin", relationship_id=None)
        pipeline = Pipeline(rcpt=(), data={"admin": (stop(Refused(replies.S554_LOOP)),)})
        with pytest.raises(Refused):
            await Intake(pipeline, Recorded(), Routes(), refusals, Metrics()).data(
                dataclasses.replace(tx(), route=admin))
        assert refusals.logged == []

    async def test_a_log_that_fails_leaves_the_refusal_as_it_was(self) -> None:
        pipeline = Pipeline(rcpt=(), data={
            "seller-to-buyer": (stop(Refused(replies.S550_NO_ORDER)),)})
        with pytest.raises(Refused) as raised:
            await Intake(pipeline, Recorded(), Routes(), Failing(), Metrics()).data(tx())
        assert raised.value.reply == replies.S550_NO_ORDER
