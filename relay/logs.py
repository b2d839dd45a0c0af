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
            if isinstance(value, str) and "@" in value:
                event_dict[key] = _ADDRESS.sub(self._mask, value)
        return event_dict


def processors(settings: LoggingSettings, relay_domain: str) -> list[Any]:
    """The processor chain, from the bound context to the rendered line."""
    chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if not settings.show_addresses:
        chain.append(MaskAddresses(relay_domain))
    if settings.format == "json":
        chain.append(structlog.processors.JSONRenderer())
    else:
        chain.append(structlog.dev.ConsoleRenderer(colors=False))
    return chain


def configure(settings: LoggingSettings, relay_domain: str) -> None:
    level = getattr(logging, settings.level.upper())
    structlog.configure(
        processors=processors(settings, relay_domain),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # aiosmtpd and SQLAlchemy log through the standard library.
    logging.basicConfig(stream=sys.stderr, level=max(level, logging.WARNING), force=True)
