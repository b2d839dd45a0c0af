"""The pipeline as data: a tuple of steps per route kind, stopped only by raising."""

from __future__ import annotations

import pytest

from relay.app import build_pipeline
from relay.delivery.bounces import Bouncer
from relay.message import Transaction
from relay.pipeline import Step, run
from relay.replies import Consumed
from relay.store import Store
from tests.conftest import SettingsFactory


class TestBuildPipeline:
    async def test_a_tuple_per_route_kind(self, make_settings: SettingsFactory,
                                          store: Store) -> None:
        """Each direction has its own tuple, so a rule for sellers only is added in one place."""
        settings = make_settings()
        bouncer = Bouncer(store.notices, "mx.relay.example", "relay.example")
        pipeline = build_pipeline(settings, store, bouncer, b"k" * 32)
        assert set(pipeline.data) == {"seller-to-buyer", "buyer-to-seller", "admin", "bounce"}
        assert pipeline.data["seller-to-buyer"] is not pipeline.data["buyer-to-seller"]
        for steps in pipeline.data.values():
            assert isinstance(steps, tuple)


class TestRun:
    async def test_a_raise_stops_the_steps(self) -> None:
        ran: list[str] = []

        async def first(tx: Transaction) -> None:
            ran.append("first")
            raise Consumed

        async def second(tx: Transaction) -> None:
            ran.append("second")

        steps: tuple[Step, ...] = (first, second)
        with pytest.raises(Consumed):
            await run(steps, Transaction(id="m1", peer="test", mail_from=""))
        assert ran == ["first"]
