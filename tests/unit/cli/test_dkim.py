"""`relay dkim keygen`: the key on disk for relay's user only, the record to publish."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.unit.cli.runner import Relay, WriteConfig, one_line_error


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "dkim.pem"


@pytest.fixture
def relay(write_config: WriteConfig, key_file: Path, tmp_path: Path,
          capsys: pytest.CaptureFixture[str]) -> Relay:
    """keygen needs no store: a config naming the key file is all."""
    key_file.parent.mkdir()
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    return Relay(write_config(url, f'\n[dkim]\nselector = "s1"\nprivate_key_file = "{key_file}"\n'),
                 capsys)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that hides nothing: the key's mode must come from relay, not the shell."""
    old = os.umask(0)
    yield
    os.umask(old)


def public_of(path: Path) -> str:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    return base64.b64encode(der).decode()


class TestKeygen:
    def test_writes_the_key_0600_to_the_configured_file_and_prints_the_record(
        self, relay: Relay, key_file: Path, open_umask: None
    ) -> None:
        document = relay.ok("dkim", "keygen", "--selector", "s2026")
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert document == {
            "selector": "s2026", "domain": "relay.example",
            "name": "s2026._domainkey.relay.example",
            "txt": f"v=DKIM1; k=rsa; p={public_of(key_file)}",
            "private_key_file": str(key_file),
        }

    def test_text_is_a_zone_line_in_strings_of_at_most_255_bytes(
        self, relay: Relay, tmp_path: Path
    ) -> None:
        out = tmp_path / "other.pem"
        result = relay("dkim", "keygen", "--selector", "mail", "--output", str(out))
        assert (result.status, result.err) == (0, "")
        comment, line = result.out.splitlines()
        assert comment.startswith(f"; the private key is in {out} (mode 0600)")
        assert line.startswith('mail._domainkey.relay.example IN TXT "v=DKIM1; k=rsa; p=')
        strings = re.findall(r'"([^"]*)"', line)
        assert len(strings) == 2
        assert all(len(s) <= 255 for s in strings)
        assert "".join(strings) == f"v=DKIM1; k=rsa; p={public_of(out)}"

    def test_an_existing_key_is_kept_unless_forced(self, relay: Relay, key_file: Path) -> None:
        relay.ok("dkim", "keygen", "--selector", "s1")
        first = key_file.read_bytes()
        line = one_line_error(relay("dkim", "keygen", "--selector", "s1"), 1)
        assert line == (f"relay: error: {key_file} already exists: relay does not replace a "
                        "key that may be published (pass --force to replace it)")
        assert key_file.read_bytes() == first
        relay.ok("dkim", "keygen", "--selector", "s1", "--force")
        assert key_file.read_bytes() != first
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]

    def test_without_a_file_to_write_it_is_a_usage_error(
        self, write_config: WriteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bare = Relay(write_config(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"), capsys)
        line = one_line_error(bare("dkim", "keygen", "--selector", "s1"), 2)
        assert line == ("relay: error: no file to write the key to: pass --output PATH or "
                        "set dkim.private_key_file")

    def test_a_bad_selector_or_directory_is_an_error(self, relay: Relay, tmp_path: Path) -> None:
        line = one_line_error(relay("dkim", "keygen", "--selector", "a_b"), 2)
        assert "'a_b' is not a DKIM selector" in line
        missing = tmp_path / "no" / "dir.pem"
        line = one_line_error(relay("dkim", "keygen", "--selector", "s", "--output",
                                    str(missing)), 2)
        assert line == f"relay: error: cannot write {missing} (No such file or directory)"


class TestCheckConfig:
    def test_dkim_is_in_force_and_its_key_is_read(
        self, relay: Relay, key_file: Path
    ) -> None:
        """check-config reads the key as `relay serve` would: a missing one is named."""
        line = one_line_error(relay("check-config"), 2)
        assert line == (f"relay: error: dkim.private_key_file: cannot read {key_file} "
                        "(No such file or directory)")
        relay.ok("dkim", "keygen", "--selector", "s1")
        document = relay.ok("check-config")
        assert "dkim" not in document["not_in_force"]
        assert document["dkim"] == {"domain": "relay.example", "selector": "s1",
                                    "private_key_file": str(key_file)}
        key_file.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        line = one_line_error(relay("check-config"), 2)
        assert line == (f"relay: error: dkim.private_key_file: {key_file} is not an "
                        "unencrypted PEM private key (make one with `relay dkim keygen`)")
