"""check-config's view: the effective settings, secrets masked, what is not in force marked."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from relay.config.settings import NOT_IN_FORCE, Duration, Settings

NOT_IN_FORCE_NOTE = "# not in force yet: a later release builds it"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Duration):
        return f"{value:g}s"
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _table(name: str, section: Any) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        if name == "store" and field.name == "url":
            table[field.name] = _mask_url_password(value)
        elif field.metadata.get("secret"):
            table[field.name] = None if value is None else "********"
        elif value is not None:
            table[field.name] = _plain(value)
    return table


def effective(settings: Settings) -> dict[str, Any]:
    """The settings as plain TOML-like data, one table per section, secrets masked."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        section = getattr(settings, field.name)
        if dataclasses.is_dataclass(section):
            out[field.name] = _table(field.name, section)
        else:
            out[field.name] = _plain(section)
    return out


def as_json(settings: Settings) -> dict[str, Any]:
    """`check-config --json`: the sections, and `not_in_force` naming sections and keys."""
    return {**effective(settings), "not_in_force": list(NOT_IN_FORCE)}


def as_text(settings: Settings) -> str:
    """`check-config`: TOML, with a comment above what nothing reads yet."""
    return toml_text(effective(settings), NOT_IN_FORCE)


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def toml_text(
    config: Mapping[str, Mapping[str, Any]], not_in_force: Collection[str] = ()
) -> str:
    """TOML-ish tables; JSON scalars and arrays are valid TOML values. Unset keys are left out."""
    blocks = []
    for section, table in config.items():
        lines = [NOT_IN_FORCE_NOTE] if section in not_in_force else []
        lines.append(f"[{_key(section)}]")
        for key, value in table.items():
            if value is None:
                continue
            if f"{section}.{key}" in not_in_force:
                lines.append(NOT_IN_FORCE_NOTE)
            lines.append(f"{_key(key)} = {json.dumps(value)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _mask_url_password(url: str) -> str:
    """The store URL without its password (a PostgreSQL URL may carry one)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:********@{host}"))
