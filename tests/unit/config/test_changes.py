"""What a reload applies now and what waits for a restart."""

from __future__ import annotations

from relay.config import parse
from relay.config.changes import compare


class TestCompare:
    def test_nothing_changed(self) -> None:
        change = compare(parse({}, environ={}), parse({}, environ={}))
        assert (change.changed, change.needs_restart) == ((), ())

    def test_sections_that_changed_are_named(self) -> None:
        old = parse({}, environ={})
        new = parse({"server": {"max_hops": 5}, "logging": {"level": "debug"},
                     "queue": {"backoff": ["1s"]}}, environ={})
        change = compare(old, new)
        assert change.changed == ("server", "queue", "logging")
        assert change.applied.server.max_hops == 5
        assert change.needs_restart == ()

    def test_listen_store_aliases_and_pool_size_wait_for_a_restart(self) -> None:
        old = parse({}, environ={})
        new = parse({
            "server": {"listen": "127.0.0.1:2626"},
            "store": {"url": "sqlite+aiosqlite:///elsewhere.db"},
            "aliases": {"domain": "other.example"},
            "queue": {"workers": 9},
        }, environ={})
        change = compare(old, new)
        assert change.needs_restart == ("server.listen", "store", "aliases", "queue.workers")
        assert change.changed == ()
        assert change.applied == old

    def test_the_metrics_address_waits_for_a_restart_and_stuck_after_applies(self) -> None:
        old = parse({}, environ={})
        new = parse({"metrics": {"listen": "127.0.0.1:9999", "stuck_after": "5m"}}, environ={})
        change = compare(old, new)
        assert change.needs_restart == ("metrics.listen",)
        assert change.changed == ("metrics",)
        assert change.applied.metrics.listen == "127.0.0.1:9125"
        assert float(change.applied.metrics.stuck_after) == 300

    def test_a_new_upstream_password_is_a_change_of_upstream(self) -> None:
        up = {"kind": "smtp", "username": "u"}
        old = parse({"upstream": up}, environ={"RELAY_UPSTREAM_PASSWORD": "a"})
        new = parse({"upstream": up}, environ={"RELAY_UPSTREAM_PASSWORD": "b"})
        assert compare(old, new).changed == ("upstream",)
