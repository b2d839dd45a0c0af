"""structlog setup: one JSON object a line, the transaction id bound, real addresses masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from relay.config import LoggingSettings

# An address in any form a log field may carry it: a quoted local part, or one with
# %-hacks and !-paths in it (RFC 5322 atext, which admits both), at a host name or
# an address literal. In a source route (`@a,@b:user@c`) it matches `user@c`.
_ADDRESS = re.compile(
    r"(\"(?:[^\"\\]|\\.)*\"|[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+)"
    r"@(\[[^\]\s]*\]|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*)"
)
# What the relay's own aliases and role addresses look like; anything else at our
# domain (`victim%gmail.com@`, `host!victim@`) names someone, so it is masked too.
_OWN_LOCAL = re.compile(r"[A-Za-z0-9._+=\-]+")


class MaskAddresses:
    """Replace real addresses in log fields by `o***@domain`; aliases at our domain stay.

    Aliases are what an operator searches logs for, and they reveal nobody.
    """

    def __init__(self, relay_domain: str) -> None:
        self._domain = relay_domain.lower()

    def _mask(self, match: re.Match[str]) -> str:
        local, domain = match[1], match[2]
        if domain.lower() == self._domain and _OWN_LOCAL.fullmatch(local):
            return match[0]
        return f"{local[:1]}***@{domain}"

    def __call__(
        self, logger: Any, name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            event_dict[key] = self._masked(value)
        return event_dict

    def _masked(self, value: Any) -> Any:
        """Strings, and the strings in lists and tables (a field may hold recipients)."""
        if isinstance(value, str):
            return _ADDRESS.sub(self._mask, value) if "@" in value else value
        if isinstance(value, list | tuple):
            return [self._masked(item) for item in value]
        if isinstance(value, dict):
            return {key: self._masked(item) for key, item in value.items()}
        return value


def _prepare(settings: LoggingSettings, relay_domain: str) -> list[Any]:
    """From the bound context to a masked event: what every line goes through."""
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if not settings.show_addresses:
        chain.append(MaskAddresses(relay_domain))
    return chain


def _renderer(settings: LoggingSettings) -> Any:
    if settings.format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def processors(settings: LoggingSettings, relay_domain: str) -> list[Any]:
    """The processor chain, from the bound context to the rendered line."""
    return [*_prepare(settings, relay_domain), _renderer(settings)]


def configure(settings: LoggingSettings, relay_domain: str) -> None:
    level = getattr(logging, settings.level.upper())
    structlog.configure(
        processors=processors(settings, relay_domain),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # aiosmtpd, asyncio and SQLAlchemy log through the standard library, and Python
    # warns through `warnings`: their lines go the same way, one event a line
    # (a traceback inside it), the session's tx bound, addresses masked.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_prepare(settings, relay_domain)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _renderer(settings)],
    ))
    logging.basicConfig(handlers=[handler], level=max(level, logging.WARNING), force=True)
    logging.captureWarnings(True)
