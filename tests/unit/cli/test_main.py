"""`relay` itself: global options, usage errors, exit statuses, and no tracebacks."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay import __version__
from relay.cli import build_parser, main, service
from relay.config import Settings
from relay.replies import Refused, Reply
from tests.unit.cli.runner import Relay, WriteConfig, one_line_error

ADD = ("seller", "add", "s1", "--name", "Acme", "--email", "a@acme.example")


class TestGlobalOptions:
    def test_json_before_the_command(self, relay: Relay) -> None:
        result = relay("--json", *ADD)
        assert result.json()["id"] == "s1"

    def test_json_after_the_command(self, relay: Relay) -> None:
        result = relay(*ADD, "--json")
        assert result.json()["id"] == "s1"

    def test_without_json_the_output_is_not_json(self, relay: Relay) -> None:
        assert relay(*ADD).out.startswith("id: s1\n")

    def test_config_after_the_command(self, relay: Relay) -> None:
        result = relay(*ADD, "--config", str(relay.config), "--json", config=False)
        assert result.json()["id"] == "s1"

    def test_config_from_the_environment(
        self, relay: Relay, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("RELAY_CONFIG", str(relay.config))
        assert relay(*ADD, "--json", config=False).json()["id"] == "s1"


class TestUsage:
    def test_a_missing_option_is_one_line_and_exit_2(self, relay: Relay) -> None:
        result = relay("seller", "add", "s1", "--name", "Acme")
        line = one_line_error(result, 2)
        assert line == "relay: error: the following arguments are required: --email"

    def test_an_unknown_command_is_exit_2(self, relay: Relay) -> None:
        assert "invalid choice: 'frobnicate'" in one_line_error(relay("frobnicate"), 2)

    def test_no_command_prints_usage_and_exits_2(self, relay: Relay) -> None:
        """`relay` alone lists the commands on stderr; `relay seller` lists its actions."""
        result = relay(config=False)
        assert (result.status, result.out) == (2, "")
        assert result.err.startswith("usage: relay")
        assert "check-config" in result.err
        assert "exit statuses:" in result.err
        result = relay("seller")
        assert (result.status, result.out) == (2, "")
        assert result.err.startswith("usage: relay seller")
        assert "authorize" in result.err

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--version"]) == 0
        assert capsys.readouterr().out == f"relay {__version__}\n"

    def test_help_prints_usage_and_exits_0(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: relay")
        assert "check-config" in out
        assert main(["seller", "add", "--help"]) == 0
        assert "--orders-per-day" in capsys.readouterr().out

    def test_help_lists_the_exit_statuses(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--help"]) == 0
        epilog = capsys.readouterr().out.split("exit statuses:")[1]
        lines = [line.split(None, 1) for line in epilog.strip().splitlines()]
        assert [int(words[0]) for words in lines if words[0].isdigit()] == [0, 1, 2, 3, 4]
        assert "relay db upgrade" in epilog

    def test_every_option_and_positional_has_help(self) -> None:
        def walk(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, str]]:
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for choice in action._choices_actions:
                        yield f"{name} {choice.dest}", choice.help or ""
                    for sub, subparser in action.choices.items():
                        yield from walk(subparser, f"{name} {sub}")
                else:
                    yield f"{name} {action.dest}", action.help or ""

        missing = [where for where, help in walk(build_parser(), "relay") if not help.strip()]
        assert missing == []


class TestConfigErrors:
    def test_a_missing_file_is_exit_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        result = Relay(tmp_path / "absent.toml", capsys)("check-config")
        assert "no such configuration file" in one_line_error(result, 2)

    def test_an_unknown_key_names_the_key(
        self, relay: Relay, store_url: str, write_config: WriteConfig
    ) -> None:
        write_config(store_url, '\n[dns]\nname_servers = []\n')
        assert "dns.name_servers: unknown key" in one_line_error(relay(*ADD), 2)


class TestExitStatuses:
    def test_not_found_is_exit_4(self, relay: Relay) -> None:
        assert one_line_error(relay("buyer", "opt-in", "b9"), 4) == "relay: error: no buyer 'b9'"

    def test_a_refusal_is_exit_3_with_the_reply_text(
        self, relay: Relay, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def refuse(settings: Settings, args: object) -> None:
            raise Refused(Reply(550, "5.7.1", "That reason is not allowed for a shipped order"))

        monkeypatch.setattr(service, "check_config", refuse)
        line = one_line_error(relay("check-config"), 3)
        assert line == "relay: error: That reason is not allowed for a shipped order"

    def test_an_unexpected_error_is_one_line_and_exit_1(
        self, relay: Relay, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def crash(settings: Settings, args: object) -> None:
            raise KeyError("boom")

        monkeypatch.setattr(service, "check_config", crash)
        assert one_line_error(relay("check-config"), 1) == "relay: error: 'boom' (KeyError)"


def test_python_m_relay_exits_with_one_line_and_no_traceback(
    relay: Relay, tmp_path: Path
) -> None:
    """The real entry point, in a fresh interpreter: usage error, then not found, then success."""
    base = [sys.executable, "-m", "relay", "--config", str(relay.config)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
        )

    usage = run("seller", "add", "s1", "--name", "Acme", "--email", "nope")
    assert usage.returncode == 2
    assert usage.stderr.count("\n") == 1
    assert usage.stderr.startswith("relay: error: argument --email:")
    missing = run("seller", "authorize", "s1", "a@acme.example")
    assert (missing.returncode, missing.stderr) == (4, "relay: error: no seller 's1'\n")
    assert "Traceback" not in usage.stderr + missing.stderr
    added = run(*ADD, "--json")
    assert (added.returncode, added.stderr) == (0, "")
    assert '"id": "s1"' in added.stdout


def test_a_reader_that_stops_early_ends_the_command_quietly(relay: Relay) -> None:
    """`relay --json check-config | head -1`: no error line about the pipe, no traceback."""
    import os

    read, write = os.pipe()
    os.close(read)  # the reader is already gone when relay writes
    try:
        done = subprocess.run(
            [sys.executable, "-m", "relay", "--config", str(relay.config), "--json",
             "check-config"],
            stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 1
