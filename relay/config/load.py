"""Reading the TOML file into Settings: unknown keys and bad values fail, naming the key."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args, get_origin, get_type_hints

from relay.addresses import MIN_ENTROPY_BITS, local_part_length, normalise_address
from relay.config.settings import (
    Duration,
    Settings,
    Size,
    UpstreamSettings,
    host_port,
    nameserver_address,
)
from relay.model import ORDER_STATUSES

DEFAULT_CONFIG = Path("config/relay.toml")
CONFIG_ENV = "RELAY_CONFIG"
PASSWORD_ENV = "RELAY_UPSTREAM_PASSWORD"
# `%d/NAME` in a path is the credential NAME of relay.service, as `%d` is in the unit:
# under the unit, systemd names its directory in $CREDENTIALS_DIRECTORY; beside it
# (`sudo -u relay relay ...`), it is where systemd keeps the running unit's.
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
UNIT_CREDENTIALS = Path("/run/credentials/relay.service")


class ConfigError(Exception):
    """A configuration problem, worded for the admin: the key first, then the reason."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
}
_RATE = re.compile(r"^\d+/[smh]$")
# RFC 6376 §3.1: a DKIM selector is one or more DNS labels.
SELECTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def parse_duration(value: object) -> Duration:
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return Duration(float(m[1]) * _DURATION_UNITS[m[2]])
    raise ValueError('expected a duration such as "30s", "5m", "1h" or "5d"')


def parse_size(value: object) -> Size:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Size(value)
    if isinstance(value, str) and (m := _SIZE.match(value)):
        return Size(int(m[1]) * _SIZE_UNITS[m[2]])
    raise ValueError('expected a size such as "15MB", "10MiB" or a number of bytes')


def _scalar(hint: Any, value: object) -> Any:
    if hint is Duration:
        return parse_duration(value)
    if hint is Size:
        return parse_size(value)
    if hint is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise ValueError("expected a path")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError("expected a whole number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError("expected a string")
    raise TypeError(f"no converter for {hint!r}")  # pragma: no cover - a programming error


def _convert(hint: Any, value: object) -> Any:
    """Turn one TOML value into the type its field declares, or say why not."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        if value in args:
            return value
        raise ValueError("expected one of " + ", ".join(f'"{a}"' for a in args))
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError("expected a list")
        items = []
        for i, item in enumerate(value):
            try:
                items.append(_convert(args[0], item))
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from None
        return tuple(items)
    if args and type(None) in args:  # an optional value
        (inner,) = (a for a in args if a is not type(None))
        return _convert(inner, value)
    return _scalar(hint, value)


T = TypeVar("T")


def _section(cls: type[T], name: str, raw: object) -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}]: expected a table")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cast(Any, cls)) if not f.metadata.get("secret")}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key")
        try:
            values[key] = _convert(hints[key], value)
        except ValueError as exc:
            reason = str(exc)
            sep = "" if reason.startswith("[") else ": "
            raise ConfigError(f"{name}.{key}{sep}{reason}") from None
    return cls(**values)


def _contact_reasons(raw: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ConfigError("[contact_reasons]: expected a table")
    reasons: dict[str, tuple[str, ...]] = {}
    for reason, statuses in raw.items():
        if not isinstance(statuses, list) or not all(isinstance(s, str) for s in statuses):
            raise ConfigError(f"contact_reasons.{reason}: expected a list of order statuses")
        unknown = [s for s in statuses if s not in ORDER_STATUSES]
        if unknown:
            raise ConfigError(f"contact_reasons.{reason}: {unknown[0]!r} is not an order status;"
                              f" use {', '.join(ORDER_STATUSES)}")
        reasons[reason] = tuple(statuses)
    return reasons


Fail = Callable[[str, str], None]


def _fail(key: str, reason: str) -> None:
    raise ConfigError(f"{key}: {reason}")


def _check_listen(key: str, value: str | None, fail: Fail) -> None:
    if value:
        try:
            host_port(value, 0)
        except ValueError as exc:
            fail(key, str(exc))


def _validate_server(settings: Settings, fail: Fail) -> None:
    server = settings.server
    _check_listen("server.listen", server.listen, fail)
    if (server.tls_cert is None) != (server.tls_key is None):
        fail("server.tls_cert", "tls_cert and tls_key must be set together")
    if server.require_tls and server.tls_cert is None:
        fail("server.require_tls", "needs server.tls_cert and server.tls_key")
    for key in ("max_connections", "max_connections_per_client", "max_hops"):
        if getattr(server, key) < 1:
            fail(f"server.{key}", "must be at least 1")


def _validate_identity(settings: Settings, fail: Fail) -> None:
    domain = settings.aliases.domain
    if not _DOMAIN.fullmatch(domain):
        fail("aliases.domain", f"{domain!r} is not a lower-case domain name")
    try:
        local_part_length(settings.aliases.length, domain)
    except ValueError as exc:
        fail("aliases.length", f"{exc} (at least {MIN_ENTROPY_BITS} bits of randomness)")
    try:
        normalise_address(settings.admin.address)
    except ValueError as exc:
        fail("admin.address", str(exc))


def _validate_delivery(settings: Settings, fail: Fail) -> None:
    if not settings.store.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        fail("store.url", 'expected "sqlite+aiosqlite:///PATH" or "postgresql+asyncpg://..."')
    up = settings.upstream
    if not 0 < up.port < 65536:
        fail("upstream.port", "must be between 1 and 65535")
    if settings.queue.workers < 1:
        fail("queue.workers", "must be at least 1")
    if not settings.queue.backoff:
        fail("queue.backoff", "needs at least one interval")
    if settings.archive.retention_days < 1:
        fail("archive.retention_days", "must be at least 1 (days an archived message is kept)")
    if settings.archive.checkpoint_interval < 1:
        fail("archive.checkpoint_interval", "must be at least 1s")
    if settings.archive.checkpoint_file == settings.archive.checkpoint_key_file:
        fail("archive.checkpoint_key_file", "must not be the checkpoint file")


def _validate_listeners(settings: Settings, fail: Fail) -> None:
    _check_listen("metrics.listen", settings.metrics.listen, fail)
    _check_listen("api.listen", settings.api.listen, fail)
    if not _RATE.match(settings.api.rate_limit):
        fail("api.rate_limit", 'expected requests per second, minute or hour, such as "20/s"')


_TAG = re.compile(r"[a-z][a-z0-9]*")
_ATTRIBUTE = re.compile(r"(?:[a-z][a-z0-9]*\.)?[a-z][a-z0-9-]*")


def _validate_html(settings: Settings, fail: Fail) -> None:
    from relay.content.html import ACTIVE_TAGS, URL_ATTRIBUTES  # nh3 only when checked

    for tag in settings.content.allowed_tags:
        if not _TAG.fullmatch(tag):
            fail("content.allowed_tags", f"{tag!r} is not a lower-case tag name")
        if tag in ACTIVE_TAGS:
            fail("content.allowed_tags", f"{tag!r} can run code or load content: never allowed")
    for item in settings.content.allowed_attributes:
        name = item.rpartition(".")[2]
        if not _ATTRIBUTE.fullmatch(item):
            fail("content.allowed_attributes",
                 f'{item!r} is not an attribute name ("title") or tag and name ("a.href")')
        if name.startswith("on") or name in URL_ATTRIBUTES:
            fail("content.allowed_attributes",
                 f"{item!r} runs code or loads content: never allowed")


def _validate_policy(settings: Settings, fail: Fail) -> None:
    for key in ("quota_base", "quota_per_order"):
        if getattr(settings.policy, key) < 0:
            fail(f"policy.{key}", "must be 0 or more")


def _validate_links(settings: Settings, fail: Fail) -> None:
    from relay.content.spotting import is_public_suffix

    for domain in settings.content.link_domains:
        if not _DOMAIN.fullmatch(domain):
            fail("content.link_domains", f"{domain!r} is not a lower-case domain name")
        if is_public_suffix(domain):
            fail("content.link_domains", f"{domain!r} is a public suffix: anyone can have a "
                 "site under it, so allowing it would allow everything")


def _validate_dkim(settings: Settings, fail: Fail) -> None:
    """Signing needs a selector and a key; it signs for the relay domain or a parent of it,
    so that the signature aligns with the From of what relay sends (DMARC, RFC 7489 §3.1)."""
    dkim, relay_domain = settings.dkim, settings.aliases.domain
    if dkim.selector is None and dkim.private_key_file is None:
        if dkim.domain is not None:
            fail("dkim.domain", "needs dkim.selector and dkim.private_key_file")
        return
    if dkim.selector is None:
        fail("dkim.selector", "needed with dkim.private_key_file")
    if dkim.private_key_file is None:
        fail("dkim.private_key_file", "needed with dkim.selector (`relay dkim keygen` makes one)")
    if dkim.selector is not None and not SELECTOR.fullmatch(dkim.selector):
        fail("dkim.selector", f"{dkim.selector!r} is not a selector (DNS labels, such as "
             '"relay2026")')
    domain = dkim.domain or relay_domain
    if not _DOMAIN.fullmatch(domain):
        fail("dkim.domain", f"{domain!r} is not a lower-case domain name")
    if domain != relay_domain and not relay_domain.endswith("." + domain):
        fail("dkim.domain", f"must be aliases.domain ({relay_domain}) or a parent of it, "
             "to align with the From of the mail relay sends")


def _validate_dns(settings: Settings, fail: Fail) -> None:
    for entry in settings.dns.nameservers:
        try:
            nameserver_address(entry)
        except ValueError as exc:
            fail("dns.nameservers", str(exc))
    if not 0 < settings.dns.timeout <= 60:
        fail("dns.timeout", "must be more than 0s and at most 60s")


def _validate(settings: Settings) -> None:
    """Checks that span keys or need more than a type."""
    for check in (_validate_server, _validate_identity, _validate_delivery, _validate_listeners,
                  _validate_html, _validate_policy, _validate_links, _validate_dkim,
                  _validate_dns):
        check(settings, _fail)


def _credentials(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """Every path key that starts with `%d/`, made a path in the credentials directory."""
    directory = Path(environ.get(CREDENTIALS_ENV) or UNIT_CREDENTIALS)
    sections: dict[str, Any] = {}
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        if not dataclasses.is_dataclass(values) or isinstance(values, type):
            continue
        paths = {key.name: directory / str(path)[len("%d/"):]
                 for key in dataclasses.fields(values)
                 if isinstance(path := getattr(values, key.name), Path)
                 and str(path).startswith("%d/")}
        if paths:
            sections[section.name] = dataclasses.replace(values, **paths)
    return dataclasses.replace(settings, **sections)


def _read_password(upstream: UpstreamSettings, environ: Mapping[str, str]) -> UpstreamSettings:
    if upstream.password_file is not None:
        try:
            secret = upstream.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"upstream.password_file: cannot read it ({exc.strerror})") from None
        return dataclasses.replace(upstream, password=secret)
    if PASSWORD_ENV in environ:
        return dataclasses.replace(upstream, password=environ[PASSWORD_ENV])
    if upstream.kind == "smtp" and upstream.username is not None:
        _fail("upstream.password_file", f"upstream.username is set but no password "
              f"(set upstream.password_file or {PASSWORD_ENV})")
    return upstream


def parse(document: Mapping[str, object], environ: Mapping[str, str] | None = None,
          *, secrets: bool = True) -> Settings:
    """Build Settings from a parsed TOML document.

    `secrets=False` leaves the upstream password unread: a command that only works on
    the store runs beside a stopped service too, whose credentials systemd has taken
    away with it.
    """
    hints = get_type_hints(Settings)
    sections: dict[str, Any] = {}
    for name, raw in document.items():
        if name == "contact_reasons":
            sections[name] = _contact_reasons(raw)
        elif name in hints:
            sections[name] = _section(hints[name], name, raw)
        else:
            raise ConfigError(f"[{name}]: unknown section")
    env = os.environ if environ is None else environ
    settings = _credentials(Settings(**sections), env)
    if secrets:
        settings = dataclasses.replace(settings,
                                       upstream=_read_password(settings.upstream, env))
    _validate(settings)
    if settings.dkim.selector is not None and settings.dkim.domain is None:
        dkim = dataclasses.replace(settings.dkim, domain=settings.aliases.domain)
        settings = dataclasses.replace(settings, dkim=dkim)
    return settings


def config_path(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The file `load` reads: `path`, else $RELAY_CONFIG, else config/relay.toml."""
    env = os.environ if environ is None else environ
    return path or Path(env.get(CONFIG_ENV, DEFAULT_CONFIG))


def load(path: Path | None = None, environ: Mapping[str, str] | None = None,
         *, secrets: bool = True) -> Settings:
    """Read the file named by `path`, else $RELAY_CONFIG, else config/relay.toml
    (`secrets`: as for `parse`)."""
    env = os.environ if environ is None else environ
    path = config_path(path, env)
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse(document, env, secrets=secrets)
