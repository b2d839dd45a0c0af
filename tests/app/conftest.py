"""The composition root in-process: `serve` runs with its signals, its log and its task group."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`serve` configures logging for the whole process: put it back afterwards."""
    yield
    structlog.reset_defaults()
    logging.basicConfig(stream=sys.__stderr__, level=logging.WARNING, force=True)
