"""`relay check-config|db upgrade|serve`: the service commands."""

from __future__ import annotations

import sys
import tomllib
import types
from pathlib import Path

import pytest

from relay.config import Settings
from relay.config.render import toml_text
from tests.unit.cli.runner import Relay, WriteConfig, one_line_error

SECRET = "hunter2-upstream-secret"
ADD = ("seller", "add", "s1", "--name", "A", "--email", "a@b.example")


class TestCheckConfig:
    @pytest.fixture
    def relay_with_secret(
        self, relay: Relay, store_url: str, write_config: WriteConfig, tmp_path: Path
    ) -> Relay:
        password = tmp_path / "upstream-password"
        password.write_text(SECRET + "\n", encoding="utf-8")
        write_config(store_url, f'\n[upstream]\npassword_file = "{password}"\n')
        return relay

    def test_json_is_the_effective_config_with_the_password_masked(
        self, relay_with_secret: Relay
    ) -> None:
        result = relay_with_secret("--json", "check-config")
        assert result.status == 0
        assert SECRET not in result.out + result.err
        config = result.json()
        assert config["upstream"]["password"] == "********"
        assert config["aliases"] == {"domain": "relay.example", "length": 35}
        assert config["server"]["timeout"] == "300s"

    def test_text_is_toml_with_the_password_masked(self, relay_with_secret: Relay) -> None:
        result = relay_with_secret("check-config")
        assert result.status == 0
        assert SECRET not in result.out + result.err
        config = tomllib.loads(result.out)
        assert config["upstream"]["password"] == "********"
        assert config["aliases"]["domain"] == "relay.example"

    def test_a_database_password_is_masked(
        self, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """check-config does not connect, so any PostgreSQL URL will do."""
        url = f"postgresql+asyncpg://relay:{SECRET}@db.internal:5432/relay"
        result = Relay(write_config(url), capsys)("check-config", "--json")
        assert result.status == 0
        assert SECRET not in result.out
        assert result.json()["store"]["url"] == (
            "postgresql+asyncpg://relay:********@db.internal:5432/relay"
        )

    def test_an_unknown_key_is_a_configuration_error_naming_it(
        self, relay: Relay, store_url: str, write_config: WriteConfig
    ) -> None:
        write_config(store_url, "\n[server]\nlisten_on = 25\n")
        line = one_line_error(relay("check-config"), 2)
        assert line == "relay: error: server.listen_on: unknown key"

    def test_toml_text_quotes_keys_that_are_not_bare(self) -> None:
        text = toml_text({"contact_reasons": {"a b": ["shipped"]}, "x": {"unset": None}})
        assert tomllib.loads(text) == {"contact_reasons": {"a b": ["shipped"]}, "x": {}}


class TestDbUpgrade:
    def test_upgrading_a_migrated_store_is_harmless(self, relay: Relay) -> None:
        assert relay.ok("db", "upgrade") == {"upgraded": True}
        assert relay.ok(*ADD)["id"] == "s1"

    def test_creates_the_schema_in_a_fresh_store(
        self, empty_store_url: str, write_config: WriteConfig,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Before the upgrade a command is a configuration error saying what to run (exit 2)."""
        relay = Relay(write_config(empty_store_url), capsys)
        line = one_line_error(relay(*ADD), 2)
        assert line == "relay: error: the store has no schema yet: run `relay db upgrade`"
        result = relay("db", "upgrade")
        assert (result.status, result.out) == (0, "the store's schema is up to date\n")
        assert relay.ok(*ADD)["id"] == "s1"



class TestBesideAStoppedService:
    """Under systemd the password is a credential that exists only while the unit runs."""

    @pytest.fixture
    def relay_without_credential(self, relay: Relay, store_url: str,
                                 write_config: WriteConfig, tmp_path: Path) -> Relay:
        gone = tmp_path / "credentials" / "upstream-password"
        write_config(store_url, f'\n[upstream]\nkind = "smtp"\nusername = "relay"\n'
                                f'password_file = "{gone}"\n')
        return relay

    def test_a_store_command_needs_no_upstream_password(
        self, relay_without_credential: Relay
    ) -> None:
        assert relay_without_credential.ok(*ADD)["id"] == "s1"

    def test_check_config_still_reads_it(self, relay_without_credential: Relay) -> None:
        line = one_line_error(relay_without_credential("check-config"), 2)
        assert line.startswith("relay: error: upstream.password_file: cannot read it")

def test_an_unreachable_store_is_exit_1(
    write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a configuration error: the same command may succeed once the server is back."""
    relay = Relay(write_config("postgresql+asyncpg://relay@127.0.0.1:9/relay"), capsys)
    assert "cannot reach the store" in one_line_error(relay(*ADD), 1)


class TestServe:
    def test_runs_the_app_with_the_loaded_settings(
        self, relay: Relay, store_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: list[Settings] = []

        async def serve(settings: Settings, config: Path | None) -> None:
            seen.append(settings)
            assert config == relay.config

        fake = types.ModuleType("relay.app")
        fake.serve = serve  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "relay.app", fake)
        result = relay("serve")
        assert (result.status, result.out, result.err) == (0, "", "")
        assert [s.store.url for s in seen] == [store_url]

    def test_a_crash_is_one_line(
        self, relay: Relay, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def serve(settings: Settings, config: Path | None) -> None:
            raise RuntimeError("port 2525 is taken\nsecond line")

        fake = types.ModuleType("relay.app")
        fake.serve = serve  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "relay.app", fake)
        line = one_line_error(relay("serve"), 1)
        assert line == "relay: error: port 2525 is taken (RuntimeError)"
