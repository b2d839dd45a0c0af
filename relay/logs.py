"""structlog setup: one JSON object a line, the transaction id bound, real addresses masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from relay.config import LoggingSettings

_ADDRESS = re.compile(r"([A-Za-z0-9._%+\-=]+)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


class MaskAddresses:
    """Replace real addresses in log fields by `o***@domain`; aliases at our domain stay.

    Aliases are what an operator searches logs for, and they reveal nobody.
    """

    def __init__(self, relay_domain: str) -> None:
        self._domain = relay_domain.lower()

    def _mask(self, match: re.Match[str]) -> str:
        local, domain = match[1], match[2]
        if domain.lower() == self._domain:
            return match[0]
        return f"{local[:1]}***@{domain}"

    def __call__(
        self, logger: Any, name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if isinstance(value, str) and "@" in value:
                event_dict[key] = _ADDRESS.sub(self._mask, value)
        return event_dict


def configure(settings: LoggingSettings, relay_domain: str) -> None:
    level = getattr(logging, settings.level.upper())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if not settings.show_addresses:
        processors.append(MaskAddresses(relay_domain))
    if settings.format == "json":
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # aiosmtpd and SQLAlchemy log through the standard library.
    logging.basicConfig(stream=sys.stderr, level=max(level, logging.WARNING), force=True)
