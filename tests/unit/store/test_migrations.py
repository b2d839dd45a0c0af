"""The migrations build the schema the tables describe, and carry old data forward."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from relay.store import Store
from relay.store.migrate import upgrade
from relay.store.tables import Base

DOMAIN = "relay.example"


async def test_the_migrated_schema_is_the_one_the_tables_describe(store_url: str) -> None:
    """A column or index added to tables.py without a migration fails here, on both backends."""
    store = Store(store_url, 35, DOMAIN)
    try:
        def differences(connection: Connection) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            return list(compare_metadata(context, Base.metadata))

        assert await store.database.run_connection(differences) == []
    finally:
        await store.close()


async def test_an_address_belongs_to_one_seller_even_when_the_check_is_raced(
    store_url: str,
) -> None:
    """The unique index is what holds when two writers pass the check at the same time."""
    store = Store(store_url, 35, DOMAIN)
    try:
        def two_owners(connection: Connection) -> None:
            connection.execute(text(
                "INSERT INTO sellers (id, name, email, created_at) VALUES "
                "('s1', 'One', 'one@shop.example', CURRENT_TIMESTAMP), "
                "('s2', 'Two', 'two@shop.example', CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO seller_addresses (seller_id, address) VALUES "
                "('s1', 'desk@shop.example'), ('s2', 'desk@shop.example')"))

        with pytest.raises(IntegrityError):
            await store.database.run_connection(two_owners)
    finally:
        await store.close()


async def test_upgrading_keeps_a_shared_address_with_one_seller(tmp_path: Any) -> None:
    """Before 0004 two sellers could hold one address: the one whose primary it is keeps it."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", 35, DOMAIN)
    try:
        await upgrade(store.database, "0003")

        def old_data(connection: Connection) -> None:
            connection.execute(text(
                "INSERT INTO sellers (id, name, email, created_at) VALUES "
                "('a', 'A', 'a@shop.example', CURRENT_TIMESTAMP), "
                "('b', 'B', 'desk@shop.example', CURRENT_TIMESTAMP), "
                "('c', 'C', 'c@shop.example', CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO seller_addresses (seller_id, address) VALUES "
                "('a', 'a@shop.example'), ('b', 'desk@shop.example'), "
                "('c', 'c@shop.example'), ('a', 'desk@shop.example'), "
                "('a', 'side@shop.example'), ('c', 'side@shop.example')"))

        await store.database.run_connection(old_data)
        await upgrade(store.database)

        def owners(connection: Connection) -> list[tuple[str, str]]:
            rows = connection.execute(text(
                "SELECT address, seller_id FROM seller_addresses ORDER BY address, seller_id"))
            return [(r[0], r[1]) for r in rows]

        assert await store.database.run_connection(owners) == [
            ("a@shop.example", "a"),
            ("c@shop.example", "c"),
            ("desk@shop.example", "b"),  # b's primary, so b keeps it over a
            ("side@shop.example", "a"),  # nobody's primary: the first seller id keeps it
        ]
    finally:
        await store.close()


async def test_upgrading_gives_stored_messages_their_threads(tmp_path: Any) -> None:
    """Before 0009 messages had parent links only: each gets its thread start's id."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", 35, DOMAIN)
    try:
        await upgrade(store.database, "0008")

        def old_data(connection: Connection) -> None:
            for mid, parent in (("a", None), ("b", "a"), ("c", "b"), ("d", None),
                                ("e", "gone")):
                connection.execute(text(
                    "INSERT INTO messages (id, direction, relay_message_id, parent_id, "
                    "envelope_sender, recipient, status, received_at) VALUES "
                    "(:id, 'buyer-to-seller', :rid, :parent, 'x@y', 'z@y', 'queued', "
                    "CURRENT_TIMESTAMP)"), {"id": mid, "rid": f"<{mid}>", "parent": parent})

        await store.database.run_connection(old_data)
        await upgrade(store.database)

        def threads(connection: Connection) -> dict[str, str]:
            rows = connection.execute(text("SELECT id, thread_id FROM messages"))
            return {r[0]: r[1] for r in rows}

        assert await store.database.run_connection(threads) == {
            "a": "a", "b": "a", "c": "a", "d": "d", "e": "e"}
    finally:
        await store.close()


async def test_upgrading_chains_the_stored_archive_in_the_order_it_was_written(
    tmp_path: Any, make_settings: Any
) -> None:
    """Before 0012 records had no chain: each gets its seq and hashes by id, and verifies."""
    from relay.operations import Context
    from relay.operations.archive import verify_archive

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", 35, DOMAIN)
    try:
        await upgrade(store.database, "0011")

        def old_data(connection: Connection) -> None:
            for mid in ("m1", "m2"):
                connection.execute(text(
                    "INSERT INTO messages (id, direction, relay_message_id, "
                    "envelope_sender, recipient, status, received_at, no_response_needed) "
                    "VALUES (:id, 'buyer-to-seller', :rid, 'x@y', 'z@y', 'queued', "
                    "CURRENT_TIMESTAMP, false)"), {"id": mid, "rid": f"<{mid}>"})
            for mid, form, data in (("m2", "received", b"two in"), ("m1", "received", b"one"),
                                    ("m2", "delivered", b"two out")):
                connection.execute(text(
                    "INSERT INTO archive (message_id, form, data, created_at) VALUES "
                    "(:m, :f, :d, '2026-11-30 09:15:00.123456')"),
                    {"m": mid, "f": form, "d": data})

        await store.database.run_connection(old_data)
        await upgrade(store.database)

        def chained(connection: Connection) -> list[tuple[int, str, str]]:
            rows = connection.execute(text("SELECT seq, message_id, form FROM archive ORDER BY id"))
            return [(r[0], r[1], r[2]) for r in rows]

        assert await store.database.run_connection(chained) == [
            (1, "m2", "received"), (2, "m1", "received"), (3, "m2", "delivered")]
        found = await verify_archive(Context(store, make_settings()))
        assert (found.ok, found.records, found.head_seq) == (True, 3, 3)
        await store.messages.accept_report("m3", "m1", b"a bounce", None)  # chained after them
        found = await verify_archive(Context(store, make_settings()))
        assert (found.ok, found.records) == (True, 4)
    finally:
        await store.close()
