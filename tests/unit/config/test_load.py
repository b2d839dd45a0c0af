"""Loading the configuration: typed values, errors that name their key, secrets out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.config import ConfigError, effective, load, parse, parse_duration, parse_size

SPEC_FILE = """
[server]
listen = "127.0.0.1:2525"
hostname = "mx.relay.example"
max_message_size = "15MB"
require_tls = false
max_connections = 200
max_connections_per_client = 20
timeout = "5m"
max_hops = 50
[aliases]
domain = "relay.example"
length = 35
[store]
url = "sqlite+aiosqlite:///var/relay.db"
[archive]
retention_days = 730
[upstream]
kind = "outbox"
outbox_dir = "var/outbox"
[queue]
max_age = "5d"
backoff = ["1m", "5m", "15m", "1h", "4h"]
workers = 4
[policy]
quota_base = 600
quota_per_order = 5
critical_reasons = ["product-customization", "delivery-scheduling"]
[content]
links = "reject"
links_apply_to = ["seller"]
link_domains = ["marketplace.example"]
contact_details = "reject"
attachment_types = ["pdf", "png"]
max_attachment_bytes = 10485760
[auth]
require = "none"
[dns]
nameservers = ["127.0.0.1:5353"]
[dkim]
domain = "relay.example"
selector = "relay"
private_key_file = "config/dkim.pem"
[admin]
address = "ops@marketplace.example"
[templates]
dir = "config/templates"
default_language = "en"
[contact_reasons]
"delivery-scheduling" = ["unshipped", "shipped"]
[logging]
format = "json"
level = "info"
[metrics]
listen = "127.0.0.1:9125"
stuck_after = "1h"
[api]
listen = "127.0.0.1:8025"
rate_limit = "20/s"
"""


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
        assert settings.metrics.address == ("127.0.0.1", 9125)
        assert parse({"metrics": {"listen": ""}}).metrics.address is None

    def test_a_file_written_to_the_contract_loads(self, tmp_path: Path) -> None:
        """Every section and key SPEC §3 names is known, built or not."""
        path = tmp_path / "relay.toml"
        path.write_text(SPEC_FILE)
        settings = load(path, environ={})
        assert settings.server.max_connections_per_client == 20
        assert float(settings.metrics.stuck_after) == 3600
        assert settings.api.listen == "127.0.0.1:8025"
        assert settings.api.rate_limit == "20/s"
        assert settings.contact_reasons["delivery-scheduling"] == ("unshipped", "shipped")

    def test_the_api_can_be_turned_off(self) -> None:
        assert parse({"api": {"listen": ""}}, environ={}).api.listen == ""

    def test_embedded_default_file_loads(self) -> None:
        settings = load(Path("config/relay.toml"), environ={})
        assert settings.upstream.kind == "outbox"
        assert settings.store.url.startswith("sqlite+aiosqlite:///var/")


class TestDns:
    def test_nameservers_with_and_without_ports(self) -> None:
        settings = parse({"dns": {"nameservers": [
            "192.0.2.53", "192.0.2.54:5353", "2001:db8::53", "[2001:db8::54]:5353"]}},
            environ={})
        assert settings.dns.addresses == (
            ("192.0.2.53", 53), ("192.0.2.54", 5353), ("2001:db8::53", 53),
            ("2001:db8::54", 5353))

    def test_defaults(self) -> None:
        settings = parse({}, environ={})
        assert settings.auth.require == "none"
        assert settings.dns.nameservers == ()
        assert settings.dns.timeout == 5.0


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
            ({"server": {"max_connections_per_client": 0}}, "server.max_connections_per_client:"),
            ({"api": {"rate_limit": "fast"}}, "api.rate_limit: expected requests per"),
            ({"api": {"listen": "127.0.0.1:x"}}, "api.listen:"),
            ({"metrics": {"stuck_after": "late"}}, "metrics.stuck_after: expected a duration"),
            ({"content": {"allowed_tags": ["p", "script"]}}, "content.allowed_tags: 'script'"),
            ({"content": {"allowed_tags": ["P!"]}}, "content.allowed_tags: 'P!' is not"),
            ({"content": {"allowed_attributes": ["onclick"]}}, "content.allowed_attributes:"),
            ({"content": {"allowed_attributes": ["td.background"]}},
             "content.allowed_attributes: 'td.background' runs code"),
            ({"content": {"allowed_attributes": ["a b"]}}, "content.allowed_attributes: 'a b'"),
            ({"policy": {"quota_base": -1}}, "policy.quota_base: must be 0 or more"),
            ({"archive": {"retention_days": 0}}, "archive.retention_days: must be at least 1"),
            ({"contact_reasons": {"late": ["shiped"]}}, "contact_reasons.late: 'shiped' is not"),
            ({"content": {"link_domains": ["co.uk"]}}, "content.link_domains: 'co.uk' is a public"),
            ({"content": {"link_domains": ["blogspot.com"]}}, "content.link_domains: 'blogspot"),
            ({"content": {"link_domains": ["Shop.Example"]}}, "content.link_domains: 'Shop"),
            ({"content": {"links": "warn"}}, 'content.links: expected one of "reject"'),
            ({"content": {"links_apply_to": ["admin"]}}, "content.links_apply_to[0]: expected"),
            ({"dkim": {"selector": "s1"}}, "dkim.private_key_file: needed with dkim.selector"),
            ({"auth": {"require": "dkim"}}, 'auth.require: expected one of "none"'),
            ({"dns": {"nameservers": ["ns.example"]}},
             "dns.nameservers: 'ns.example' is not an IP address"),
            ({"dns": {"nameservers": ["192.0.2.53:dns"]}}, "dns.nameservers: 'dns' is not a port"),
            ({"dns": {"timeout": "0s"}}, "dns.timeout: must be more than 0s"),
            ({"dkim": {"private_key_file": "k.pem"}}, "dkim.selector: needed with"),
            ({"dkim": {"domain": "relay.example"}}, "dkim.domain: needs dkim.selector"),
            ({"dkim": {"selector": "s_1", "private_key_file": "k.pem"}},
             "dkim.selector: 's_1' is not a selector"),
            ({"dkim": {"selector": "s1", "private_key_file": "k.pem", "domain": "other.example"}},
             "dkim.domain: must be aliases.domain (relay.example) or a parent of it"),
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


class TestDkim:
    def test_signs_for_the_relay_domain_unless_told_a_parent(self) -> None:
        """The domain defaults to aliases.domain; a parent of it aligns too (DMARC relaxed)."""
        key = {"selector": "s1", "private_key_file": "k.pem"}
        assert parse({"dkim": key}, environ={}).dkim.domain == "relay.example"
        parent = parse({"aliases": {"domain": "mail.relay.example"},
                        "dkim": {**key, "domain": "relay.example"}}, environ={})
        assert parent.dkim.domain == "relay.example"
        assert parse({}, environ={}).dkim.domain is None


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

    def test_a_credential_of_the_unit_is_read_from_its_directory(self, tmp_path: Path) -> None:
        """`%d/NAME`, as in the unit: the file LoadCredential=NAME:... put there."""
        (tmp_path / "upstream-password").write_text("from-systemd\n")
        settings = parse(
            {"upstream": {"kind": "smtp", "username": "u",
                          "password_file": "%d/upstream-password"},
             "dkim": {"selector": "s1", "private_key_file": "%d/dkim-private-key"}},
            environ={"CREDENTIALS_DIRECTORY": str(tmp_path)},
        )
        assert settings.upstream.password == "from-systemd"
        assert settings.upstream.password_file == tmp_path / "upstream-password"
        assert settings.dkim.private_key_file == tmp_path / "dkim-private-key"

    def test_beside_the_service_a_credential_is_the_running_units(self) -> None:
        """`sudo -u relay relay ...` has no $CREDENTIALS_DIRECTORY: the unit's own is meant."""
        settings = parse({"dkim": {"selector": "s1", "private_key_file": "%d/dkim-private-key"}},
                         environ={})
        assert settings.dkim.private_key_file == Path(
            "/run/credentials/relay.service/dkim-private-key")

    def test_an_absent_credential_names_the_key(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"^upstream\.password_file: cannot read it"):
            parse({"upstream": {"kind": "smtp", "username": "u",
                                "password_file": "%d/upstream-password"}},
                  environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})

    def test_without_secrets_the_password_is_left_unread(self, tmp_path: Path) -> None:
        settings = parse({"upstream": {"kind": "smtp", "username": "u",
                                       "password_file": "%d/upstream-password"}},
                         environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}, secrets=False)
        assert settings.upstream.password is None
        assert settings.upstream.password_file == tmp_path / "upstream-password"

    def test_password_is_not_a_file_key(self) -> None:
        with pytest.raises(ConfigError, match=r"upstream\.password: unknown key"):
            parse({"upstream": {"password": "inline"}}, environ={})
