"""The relay under test: certificates, a generated config, a seeded store, the process."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import trustme

from bench.procs import BenchError, Child, Forwarder, Sink

USERNAME = "relay"
SELLER = "owner@acme.example"
BUYER = "bob@mailbox.example"
DOMAIN = "relay.example"
CLI_SECONDS = 60.0


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(directory: Path) -> Certificates:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    files = Certificates(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca_file))
    cert.cert_chain_pems[0].write_to_path(str(files.cert_file))
    cert.private_key_pem.write_to_path(str(files.key_file))
    return files


def password_file(directory: Path) -> Path:
    """The upstream's AUTH password, shared by the upstream sink, the relay and the forwarder."""
    return directory / "upstream-password"


def upstream_sink(directory: Path, certs: Certificates) -> Sink:
    password = password_file(directory)
    password.write_text(secrets.token_urlsafe(18) + "\n", encoding="utf-8")
    password.chmod(0o600)
    return Sink("upstream-sink", directory, [
        "--tls", str(certs.cert_file), str(certs.key_file),
        "--username", USERNAME, "--password-file", str(password),
    ])


def forwarder(directory: Path, upstream_port: int, certs: Certificates, workers: int) -> Forwarder:
    """The bare forwarder, with the upstream settings `write_config` gives the relay."""
    return Forwarder("forwarder", directory, [
        "--upstream-host", "127.0.0.1", "--upstream-port", str(upstream_port),
        "--ca-file", str(certs.ca_file), "--username", USERNAME,
        "--password-file", str(password_file(directory)),
        "--workers", str(workers), "--timeout", "60",
    ])


def _toml(value: object) -> str:
    # JSON strings, numbers, booleans and arrays of them are valid TOML values.
    return json.dumps(value)


def write_config(
    directory: Path, listen_port: int, upstream_port: int, certs: Certificates,
    store_url: str | None = None, name: str = "relay", dkim: bool = False,
) -> Path:
    """A config for the relay as it is today; keys only where defaults would hinder.

    The store is SQLite in `directory` unless `store_url` names another. With `dkim`,
    the relay signs with a key `make_dkim_key` writes.
    """
    db = directory / f"{name}.db"
    tables: dict[str, dict[str, object]] = {
        "server": {
            "listen": f"127.0.0.1:{listen_port}",
            "max_message_size": "25MB",  # the RSS burst sends 10 MiB messages
            "max_connections": 200,
            # Every benchmark client comes from 127.0.0.1: one host standing for many.
            "max_connections_per_client": 200,
        },
        "aliases": {"domain": DOMAIN},
        "store": {"url": store_url or f"sqlite+aiosqlite:///{db}"},
        "upstream": {
            "kind": "smtp", "host": "127.0.0.1", "port": upstream_port, "tls": "starttls",
            "username": USERNAME, "password_file": str(password_file(directory)),
            "ca_file": str(certs.ca_file), "timeout": "60s",
        },
        "queue": {"backoff": ["1s"]},
        # The daily quota must not end a benchmark once marketplace policy is enforced.
        "policy": {"quota_base": 1_000_000_000, "quota_per_order": 1_000_000},
        "content": {"max_attachment_bytes": "25MB"},
        "admin": {"address": "postmaster@bench.example"},
        "logging": {"format": "json", "level": "warning"},
    }
    if dkim:
        tables["dkim"] = {"selector": "bench", "private_key_file": str(directory / f"{name}.pem")}
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items()) + "\n"
        for name, table in tables.items()
    )
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def make_dkim_key(config: Path) -> None:
    """The key a config with `[dkim]` names, made as an admin would: `relay dkim keygen`."""
    await cli(config, "dkim", "keygen", "--selector", "bench")


async def cli(config: Path, *words: str) -> str:
    """`relay --config CONFIG WORDS...`; its stdout, or BenchError with its stderr."""
    argv = [sys.executable, "-m", "relay", "--config", str(config), *words]
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=config.parent, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_SECONDS)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        raise BenchError(
            f"`relay {' '.join(words)}` failed ({process.returncode}): "
            f"{err.decode(errors='replace').strip()}"
        )
    return out.decode()


async def seed(config: Path) -> str:
    """Migrate, add one seller, buyer and order; the buyer alias the seller writes to."""
    await cli(config, "db", "upgrade")
    await cli(config, "seller", "add", "acme", "--name", "Acme Shop", "--email", SELLER)
    await cli(config, "buyer", "add", "bob", "--email", BUYER, "--name", "Bob Buyer")
    await cli(config, "order", "add", "112-0001", "--buyer", "bob", "--seller", "acme")
    shown = json.loads(await cli(config, "--json", "alias", "show", "--buyer", "bob",
                                 "--seller", "acme"))
    alias = shown.get("buyer_alias") if isinstance(shown, dict) else None
    if not isinstance(alias, str):
        raise BenchError(f"`relay --json alias show` gave no buyer_alias: {shown!r}")
    return alias


def relay_process(name: str, directory: Path, config: Path) -> Child:
    argv = [sys.executable, "-m", "relay", "--config", str(config), "serve"]
    return Child(name, argv, directory)

