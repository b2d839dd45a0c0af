"""An operations context on an empty, migrated store, on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relay.operations import Context, connect
from tests.conftest import SettingsFactory


@pytest.fixture
async def ctx(store_url: str, make_settings: SettingsFactory) -> AsyncIterator[Context]:
    async with connect(make_settings(store={"url": store_url})) as context:
        yield context
