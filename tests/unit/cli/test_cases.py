"""`relay case open|resolve|reopen|close|list`: JSON shapes, the table, exit statuses."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import datetime

from tests.unit.cli.runner import Relay, one_line_error


def _pairs(relay: Relay) -> None:
    relay.ok("seller", "add", "s1", "--name", "Acme Shop", "--email", "owner@acme.example")
    relay.ok("buyer", "add", "b1", "--email", "bob@buyer.example")
    relay.ok("buyer", "add", "b2", "--email", "ann@buyer.example")
    relay.ok("order", "add", "o1", "--buyer", "b1", "--seller", "s1")
    relay.ok("order", "add", "o2", "--buyer", "b2", "--seller", "s1")


def _open(relay: Relay, *extra: str, buyer: str = "b1") -> str:
    opened = relay.ok("case", "open", "--buyer", buyer, "--seller", "s1", *extra)
    assert list(opened) == ["case"]
    case: str = opened["case"]
    return case


class TestOpen:
    def test_prints_the_case_id(self, relay: Relay) -> None:
        _pairs(relay)
        case = _open(relay, "--order", "o1", "--subject", "Parcel never came")
        assert case.isdigit()
        (listed,) = relay.ok("case", "list")
        assert set(listed) == {"id", "state", "buyer", "seller", "order", "subject", "messages",
                               "last_activity", "opened_at"}
        assert {k: listed[k] for k in ("id", "state", "buyer", "seller", "order", "subject",
                                       "messages")} == {
            "id": case, "state": "open", "buyer": "b1", "seller": "s1", "order": "o1",
            "subject": "Parcel never came", "messages": 0,
        }
        assert datetime.fromisoformat(listed["last_activity"]).utcoffset() is not None
        assert listed["last_activity"] == listed["opened_at"]

    def test_human_output(self, relay: Relay) -> None:
        _pairs(relay)
        result = relay("case", "open", "--buyer", "b1", "--seller", "s1")
        assert result.status == 0
        assert re.fullmatch(r"case \d+ opened\n", result.out)

    def test_a_second_case_is_a_conflict(self, relay: Relay) -> None:
        _pairs(relay)
        case = _open(relay)
        line = one_line_error(relay("case", "open", "--buyer", "b1", "--seller", "s1"), 1)
        assert line == (f"relay: error: buyer b1 and seller s1 already have case {case} (open); "
                        "close it before opening another")

    def test_unknown_party_or_order_is_not_found(self, relay: Relay) -> None:
        _pairs(relay)
        for args, missing in (
            (("--buyer", "b9", "--seller", "s1"), "no buyer 'b9'"),
            (("--buyer", "b1", "--seller", "s9"), "no seller 's9'"),
            (("--buyer", "b1", "--seller", "s1", "--order", "o9"), "no order 'o9'"),
        ):
            assert one_line_error(relay("case", "open", *args), 4) == f"relay: error: {missing}"

    def test_an_order_of_another_pair_is_a_usage_error(self, relay: Relay) -> None:
        _pairs(relay)
        line = one_line_error(
            relay("case", "open", "--buyer", "b1", "--seller", "s1", "--order", "o2"), 2)
        assert line == "relay: error: order o2 is not between buyer b1 and seller s1"

    def test_two_processes_opening_at_once_one_wins(self, relay: Relay) -> None:
        """Four `relay case open` processes at once: one case, three conflicts naming it."""
        _pairs(relay)
        relay.ok("alias", "show", "--buyer", "b1", "--seller", "s1")

        async def run_one() -> tuple[int, str, str]:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "relay", "--config", str(relay.config), "case", "open",
                "--buyer", "b1", "--seller", "s1", "--json",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await process.communicate()
            assert process.returncode is not None
            return process.returncode, out.decode(), err.decode()

        async def race() -> list[tuple[int, str, str]]:
            return await asyncio.gather(*(run_one() for _ in range(4)))

        results = asyncio.run(race())
        assert sorted(status for status, _, _ in results) == [0, 1, 1, 1], results
        (case,) = [c["id"] for c in relay.ok("case", "list")]
        for status, out, err in results:
            if status == 0:
                assert out.strip() == f'{{\n  "case": "{case}"\n}}'
            else:
                assert err == (f"relay: error: buyer b1 and seller s1 already have case {case} "
                               "(open); close it before opening another\n")

    def test_buyer_and_seller_are_required(self, relay: Relay) -> None:
        line = one_line_error(relay("case", "open", "--buyer", "b1"), 2)
        assert "--seller" in line


class TestMoves:
    def test_resolve_reopen_close(self, relay: Relay) -> None:
        _pairs(relay)
        case = _open(relay)
        for verb, state in (("resolve", "resolved"), ("reopen", "open"),
                            ("resolve", "resolved"), ("close", "closed")):
            moved = relay.ok("case", verb, case)
            assert (moved["id"], moved["state"]) == (case, state)

    def test_a_move_not_allowed_exits_1(self, relay: Relay) -> None:
        _pairs(relay)
        case = _open(relay)
        line = one_line_error(relay("case", "close", case), 1)
        assert line == f"relay: error: case {case} is open; resolve it before closing it"
        relay.ok("case", "resolve", case)
        relay.ok("case", "close", case)
        for verb in ("resolve", "reopen", "close"):
            line = one_line_error(relay("case", verb, case), 1)
            assert "closed" in line

    def test_unknown_case_is_not_found(self, relay: Relay) -> None:
        assert one_line_error(relay("case", "resolve", "42"), 4) == "relay: error: no case '42'"
        assert one_line_error(relay("case", "close", "c-1"), 4) == "relay: error: no case 'c-1'"


class TestList:
    def test_filters(self, relay: Relay) -> None:
        _pairs(relay)
        first = _open(relay)
        relay.ok("case", "resolve", first)
        second = _open(relay, buyer="b2")
        assert [c["id"] for c in relay.ok("case", "list")] == [second, first]
        assert [c["id"] for c in relay.ok("case", "list", "--buyer", "b1")] == [first]
        assert [c["id"] for c in relay.ok("case", "list", "--seller", "s1",
                                          "--state", "open")] == [second]
        assert relay.ok("case", "list", "--state", "closed") == []

    def test_table(self, relay: Relay) -> None:
        _pairs(relay)
        case = _open(relay, "--order", "o1", "--subject", "Parcel never came")
        result = relay("case", "list")
        assert result.status == 0
        header, row = result.out.splitlines()
        assert header.split() == ["ID", "STATE", "BUYER", "SELLER", "ORDER", "MESSAGES", "LAST",
                                  "ACTIVITY", "SUBJECT"]
        assert row.split(maxsplit=6)[:6] == [case, "open", "b1", "s1", "o1", "0"]
        assert row.endswith("Z  Parcel never came")
        assert row.index("Parcel") == header.index("SUBJECT")

    def test_empty(self, relay: Relay) -> None:
        assert relay("case", "list").out == "no cases\n"
        assert relay.ok("case", "list") == []

    def test_bad_filters(self, relay: Relay) -> None:
        assert "invalid choice" in one_line_error(relay("case", "list", "--state", "gone"), 2)
        assert one_line_error(relay("case", "list", "--buyer", "b9"), 4) == (
            "relay: error: no buyer 'b9'")
