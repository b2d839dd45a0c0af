"""TOML configuration parsed once into frozen, typed settings; every error names its key."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit, urlunsplit

from relay.addresses import MIN_ENTROPY_BITS, local_part_length, normalise_address

DEFAULT_CONFIG = Path("config/relay.toml")
PASSWORD_ENV = "RELAY_UPSTREAM_PASSWORD"


class ConfigError(Exception):
    """A configuration problem, worded for the admin: the key first, then the reason."""


class Duration(float):
    """Seconds, written in the file as "30s", "5m", "1h" or "5d"."""


class Size(int):
    """Bytes, written as "15MB", "10MiB" or a plain integer."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
}


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


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{port!r} is not a port number")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class ServerSettings:
    listen: str = "127.0.0.1:2525"
    hostname: str = "localhost"
    max_message_size: Size = Size(15_000_000)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_tls: bool = False
    max_connections: int = 200
    timeout: Duration = Duration(300)
    max_hops: int = 50

    @property
    def address(self) -> tuple[str, int]:
        return _host_port(self.listen, 25)


@dataclass(frozen=True)
class AliasSettings:
    domain: str = "relay.example"
    length: int = 35


@dataclass(frozen=True)
class StoreSettings:
    url: str = "sqlite+aiosqlite:///var/relay.db"


@dataclass(frozen=True)
class ArchiveSettings:
    retention_days: int = 730


@dataclass(frozen=True)
class UpstreamSettings:
    kind: Literal["smtp", "outbox"] = "outbox"
    host: str = "localhost"
    port: int = 587
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    username: str | None = None
    password_file: Path | None = None
    timeout: Duration = Duration(60)
    ca_file: Path | None = None
    outbox_dir: Path = Path("var/outbox")
    password: str | None = field(default=None, repr=False, metadata={"secret": True})


@dataclass(frozen=True)
class QueueSettings:
    max_age: Duration = Duration(5 * 86400)
    backoff: tuple[Duration, ...] = (
        Duration(60), Duration(300), Duration(900), Duration(3600), Duration(14400),
    )
    workers: int = 4


@dataclass(frozen=True)
class PolicySettings:
    quota_base: int = 600
    quota_per_order: int = 5
    critical_reasons: tuple[str, ...] = ("product-customization", "delivery-scheduling")


@dataclass(frozen=True)
class ContentSettings:
    allowed_tags: tuple[str, ...] = (
        "a", "b", "blockquote", "br", "div", "em", "h1", "h2", "h3", "hr", "i", "img",
        "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead",
        "tr", "u", "ul",
    )
    allowed_attributes: tuple[str, ...] = ("href", "src", "alt", "title", "colspan", "rowspan")
    links: Literal["reject", "strip", "allow"] = "reject"
    links_apply_to: tuple[Literal["seller", "buyer"], ...] = ("seller",)
    link_domains: tuple[str, ...] = ()
    attachment_types: tuple[str, ...] = ("pdf", "jpg", "jpeg", "png", "gif", "txt", "doc", "docx")
    max_attachment_bytes: Size = Size(10 * 1024 * 1024)


@dataclass(frozen=True)
class AuthSettings:
    require: Literal["none", "dkim-or-spf"] = "none"


@dataclass(frozen=True)
class DnsSettings:
    nameservers: tuple[str, ...] = ()


@dataclass(frozen=True)
class DkimSettings:
    domain: str | None = None
    selector: str | None = None
    private_key_file: Path | None = None


@dataclass(frozen=True)
class AdminSettings:
    address: str = "postmaster@localhost"


@dataclass(frozen=True)
class TemplateSettings:
    dir: Path = Path("config/templates")
    default_language: str = "en"


@dataclass(frozen=True)
class LoggingSettings:
    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"
    show_addresses: bool = False


@dataclass(frozen=True)
class MetricsSettings:
    listen: str | None = None


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = ServerSettings()
    aliases: AliasSettings = AliasSettings()
    store: StoreSettings = StoreSettings()
    archive: ArchiveSettings = ArchiveSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    queue: QueueSettings = QueueSettings()
    policy: PolicySettings = PolicySettings()
    content: ContentSettings = ContentSettings()
    auth: AuthSettings = AuthSettings()
    dns: DnsSettings = DnsSettings()
    dkim: DkimSettings = DkimSettings()
    admin: AdminSettings = AdminSettings()
    templates: TemplateSettings = TemplateSettings()
    contact_reasons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()


T = TypeVar("T")


def _convert(key: str, hint: Any, value: object) -> Any:
    """Turn one TOML value into the type its field declares, or say why not."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Duration:
        return parse_duration(value)
    if hint is Size:
        return parse_size(value)
    if hint is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise ValueError("expected a path")
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
                items.append(_convert(f"{key}[{i}]", args[0], item))
            except ValueError as exc:
                raise ValueError(f"[{i}]: {exc}") from None
        return tuple(items)
    if args and type(None) in args:  # an optional value
        (inner,) = (a for a in args if a is not type(None))
        return _convert(key, inner, value)
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
            values[key] = _convert(f"{name}.{key}", hints[key], value)
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
        reasons[reason] = tuple(statuses)
    return reasons


def _validate(settings: Settings) -> None:
    """Checks that span keys or need more than a type."""
    def fail(key: str, reason: str) -> None:
        raise ConfigError(f"{key}: {reason}")

    try:
        settings.server.address  # noqa: B018 - parses the value
    except ValueError as exc:
        fail("server.listen", str(exc))
    if (settings.server.tls_cert is None) != (settings.server.tls_key is None):
        fail("server.tls_cert", "tls_cert and tls_key must be set together")
    if settings.server.require_tls and settings.server.tls_cert is None:
        fail("server.require_tls", "needs server.tls_cert and server.tls_key")
    if settings.server.max_connections < 1:
        fail("server.max_connections", "must be at least 1")
    if settings.server.max_hops < 1:
        fail("server.max_hops", "must be at least 1")
    domain = settings.aliases.domain
    if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", domain):
        fail("aliases.domain", f"{domain!r} is not a lower-case domain name")
    try:
        local_part_length(settings.aliases.length, domain)
    except ValueError as exc:
        fail("aliases.length", f"{exc} (at least {MIN_ENTROPY_BITS} bits of randomness)")
    if not settings.store.url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        fail("store.url", 'expected "sqlite+aiosqlite:///PATH" or "postgresql+asyncpg://..."')
    up = settings.upstream
    if up.kind == "smtp" and up.username is not None and up.password is None:
        fail("upstream.password_file", f"upstream.username is set but no password "
             f"(set upstream.password_file or {PASSWORD_ENV})")
    if not 0 < up.port < 65536:
        fail("upstream.port", "must be between 1 and 65535")
    if settings.queue.workers < 1:
        fail("queue.workers", "must be at least 1")
    if not settings.queue.backoff:
        fail("queue.backoff", "needs at least one interval")
    try:
        normalise_address(settings.admin.address)
    except ValueError as exc:
        fail("admin.address", str(exc))


def _read_password(upstream: UpstreamSettings, environ: Mapping[str, str]) -> UpstreamSettings:
    if upstream.password_file is not None:
        try:
            secret = upstream.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"upstream.password_file: cannot read it ({exc.strerror})") from None
        return dataclasses.replace(upstream, password=secret)
    if PASSWORD_ENV in environ:
        return dataclasses.replace(upstream, password=environ[PASSWORD_ENV])
    return upstream


def parse(document: Mapping[str, object], environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from a parsed TOML document."""
    hints = get_type_hints(Settings)
    sections: dict[str, Any] = {}
    for name, raw in document.items():
        if name == "contact_reasons":
            sections[name] = _contact_reasons(raw)
        elif name in hints:
            sections[name] = _section(hints[name], name, raw)
        else:
            raise ConfigError(f"[{name}]: unknown section")
    settings = Settings(**sections)
    upstream = _read_password(settings.upstream, os.environ if environ is None else environ)
    settings = dataclasses.replace(settings, upstream=upstream)
    _validate(settings)
    return settings


def load(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the file named by `path`, else $RELAY_CONFIG, else config/relay.toml."""
    env = os.environ if environ is None else environ
    path = path or Path(env.get("RELAY_CONFIG", DEFAULT_CONFIG))
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse(document, env)


def effective(settings: Settings) -> dict[str, Any]:
    """The settings as plain TOML-like data, secrets masked, for `check-config`."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, Duration):
            return f"{value:g}s"
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        return value

    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        section = getattr(settings, f.name)
        if not dataclasses.is_dataclass(section):
            out[f.name] = plain(section)
            continue
        table: dict[str, Any] = {}
        for sf in dataclasses.fields(section):
            value = getattr(section, sf.name)
            if f.name == "store" and sf.name == "url":
                table[sf.name] = _mask_url_password(value)
            elif sf.metadata.get("secret"):
                table[sf.name] = None if value is None else "********"
            elif value is not None:
                table[sf.name] = plain(value)
        out[f.name] = table
    return out



def _mask_url_password(url: str) -> str:
    """The store URL without its password (a PostgreSQL URL may carry one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:********@{host}"))
