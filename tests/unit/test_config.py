"""Configuration: typed values, errors that name their key, secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.config import ConfigError, effective, load, parse, parse_duration, parse_size


class TestValues:
    @pytest.mark.parametrize(
        ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("5d", 432000)]
    )
    def test_durations(self, text: str, seconds: float) -> None:
        assert parse_duration(text) == seconds

    @pytest.mark.parametrize(
        ("value", "size"), [("15MB", 15_000_000), ("10MiB", 10_485_760), (1234, 1234)]
    )
    def test_sizes(self, value: str | int, size: int) -> None:
        assert parse_size(value) == size

    def test_defaults_match_the_contract(self) -> None:
        settings = parse({})
        assert settings.server.listen == "127.0.0.1:2525"
        assert settings.server.max_message_size == 15_000_000
        assert settings.aliases.length == 35
        assert [float(d) for d in settings.queue.backoff] == [60, 300, 900, 3600, 14400]
        assert settings.content.max_attachment_bytes == 10 * 1024 * 1024
        assert settings.policy.critical_reasons == ("product-customization", "delivery-scheduling")

    def test_embedded_default_file_loads(self) -> None:
        settings = load(Path("config/relay.toml"), environ={})
        assert settings.upstream.kind == "outbox"
        assert settings.store.url.startswith("sqlite+aiosqlite:///var/")


class TestErrors:
    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ({"server": {"listn": "x"}}, "server.listn: unknown key"),
            ({"sever": {}}, "[sever]: unknown section"),
            ({"server": {"timeout": "soon"}}, "server.timeout: expected a duration"),
            ({"server": {"max_message_size": "big"}}, "server.max_message_size: expected a size"),
            ({"server": {"max_connections": "many"}}, "server.max_connections: expected a whole"),
            ({"upstream": {"tls": "maybe"}}, 'upstream.tls: expected one of "starttls"'),
            ({"queue": {"backoff": ["1m", 5]}}, "queue.backoff[1]: expected a duration"),
            ({"server": {"listen": "127.0.0.1:http"}}, "server.listen:"),
            ({"aliases": {"domain": "a-very-long-relay-domain.example"}}, "aliases.length:"),
            ({"store": {"url": "mysql://x"}}, "store.url:"),
            ({"server": {"require_tls": True}}, "server.require_tls: needs"),
            ({"upstream": {"kind": "smtp", "username": "u"}}, "upstream.password_file:"),
        ],
    )
    def test_error_names_the_key(self, document: dict[str, object], message: str) -> None:
        with pytest.raises(ConfigError) as raised:
            parse(document, environ={})
        assert str(raised.value).startswith(message)

    def test_unreadable_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="no such configuration file"):
            load(tmp_path / "missing.toml")

    def test_bad_toml(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.toml"
        path.write_text("[server\n")
        with pytest.raises(ConfigError, match="not valid TOML"):
            load(path)


class TestSecrets:
    def test_password_from_file_is_masked(self, tmp_path: Path) -> None:
        secret = tmp_path / "pw"
        secret.write_text("hunter2\n")
        settings = parse(
            {"upstream": {"kind": "smtp", "username": "u", "password_file": str(secret)}},
            environ={},
        )
        assert settings.upstream.password == "hunter2"
        assert "hunter2" not in repr(settings)
        assert effective(settings)["upstream"]["password"] == "********"

    def test_password_from_environment(self) -> None:
        settings = parse(
            {"upstream": {"kind": "smtp", "username": "u"}},
            environ={"RELAY_UPSTREAM_PASSWORD": "from-env"},
        )
        assert settings.upstream.password == "from-env"

    def test_password_is_not_a_file_key(self) -> None:
        with pytest.raises(ConfigError, match=r"upstream\.password: unknown key"):
            parse({"upstream": {"password": "inline"}}, environ={})
