"""Persistence: one object per concern over one database; only this package imports SQLAlchemy.

Each public method of a concern is one transaction. Steps and workers depend on
the Protocols in `relay.ports`, which these objects satisfy.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, text

from relay.store.archive_store import ArchiveStore
from relay.store.case_store import CaseStore
from relay.store.directory_store import DirectoryStore
from relay.store.engine import Database, open_database
from relay.store.message_store import MessageStore
from relay.store.notice_store import NoticeStore
from relay.store.pair_store import PairStore
from relay.store.process_store import ProcessStore
from relay.store.queue_store import QueueStore
from relay.store.quota_store import QuotaStore
from relay.store.report_store import ReportStore
from relay.store.secret_store import SecretStore
from relay.store.units import Units

__all__ = ["Store"]


class Store:
    """The composition: one database, one object per concern, closed together."""

    def __init__(self, url: str, alias_length: int, alias_domain: str) -> None:
        self.database: Database = open_database(url)
        units = self._units = Units(self.database)
        self.directory = DirectoryStore(units, alias_length, alias_domain)
        self.messages = MessageStore(units)
        self.cases = CaseStore(units, alias_length, alias_domain)
        self.queue = QueueStore(units)
        self.notices = NoticeStore(units, alias_domain)
        self.secrets = SecretStore(units)
        self.processes = ProcessStore(units)
        self.pairs = PairStore(units)
        self.quota = QuotaStore(units)
        self.archive = ArchiveStore(units)
        self.reports = ReportStore(units)

    async def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision."""
        from relay.store.migrate import upgrade

        await upgrade(self.database)

    async def answers(self) -> None:
        """One round trip to the database (relay.health): raises StoreUnavailable if none."""
        await self._units.read(_round_trip)

    async def run(self) -> None:
        """The background writers (group commits): run under the app's task group."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.messages.run(), name="accept-writer")
            group.create_task(self.queue.run(), name="delivered-writer")

    async def close(self) -> None:
        """Stop the group commits (pending writes fail), then close the connections."""
        await self.directory.close()
        await self.cases.close()
        await self.messages.close()
        await self.queue.close()
        await self.database.dispose()


def _round_trip(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))
