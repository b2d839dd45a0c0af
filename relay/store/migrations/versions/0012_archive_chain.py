"""archive: every record hash-chained (seq, content, previous and own chain hash), redactions

Records already stored are chained in the order they were written (by id), and
the head row names the last of them. A record may now belong to no message.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from relay.archive import chain

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_PAGE = 500
_ARCHIVE = sa.table(
    "archive", sa.column("id", sa.BigInteger), sa.column("message_id", sa.String),
    sa.column("form", sa.String), sa.column("data", sa.LargeBinary),
    sa.column("created_at", sa.DateTime(timezone=True)), sa.column("seq", sa.BigInteger),
    sa.column("content_hash", sa.String), sa.column("prev_hash", sa.String),
    sa.column("chain_hash", sa.String),
)


def upgrade() -> None:
    head = op.create_table(
        "archive_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("base_seq", sa.BigInteger(), nullable=False),
        sa.Column("base_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_head")),
    )
    with op.batch_alter_table("archive", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        for name in ("content_hash", "prev_hash", "chain_hash"):
            batch_op.add_column(sa.Column(name, sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("redaction_reason", sa.Text(), nullable=True))
    seq, last = _backfill(op.get_bind())
    with op.batch_alter_table("archive", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        for name in ("content_hash", "prev_hash", "chain_hash"):
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_archive_seq"), ["seq"])
    op.bulk_insert(head, [{"id": 1, "seq": seq, "hash": last, "base_seq": 0,
                           "base_hash": chain.GENESIS}])


def _backfill(bind: sa.Connection) -> tuple[int, str]:
    """Chain the stored records in id order, a page at a time; the last seq and hash."""
    a = _ARCHIVE.c
    seq, prev, after = 0, chain.GENESIS, None
    while True:
        query = sa.select(a.id, a.message_id, a.form, a.data, a.created_at).order_by(a.id)
        if after is not None:
            query = query.where(a.id > after)
        rows = bind.execute(query.limit(_PAGE)).all()
        if not rows:
            return seq, prev
        updates = []
        for row in rows:
            seq += 1
            created: datetime = row.created_at
            created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
            content = chain.content_hash(row.data)
            linked = chain.link(prev, seq, row.form, row.message_id, created, content)
            updates.append({"row_id": row.id, "seq": seq, "content_hash": content,
                            "prev_hash": prev, "chain_hash": linked})
            prev, after = linked, row.id
        bind.execute(
            sa.update(_ARCHIVE).where(a.id == sa.bindparam("row_id")).values(
                seq=sa.bindparam("seq"), content_hash=sa.bindparam("content_hash"),
                prev_hash=sa.bindparam("prev_hash"), chain_hash=sa.bindparam("chain_hash")),
            updates)


def downgrade() -> None:
    with op.batch_alter_table("archive", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_archive_seq"), type_="unique")
        for name in ("redaction_reason", "redacted_at", "chain_hash", "prev_hash",
                     "content_hash", "seq"):
            batch_op.drop_column(name)
        batch_op.alter_column("message_id", existing_type=sa.String(length=32), nullable=False)
    op.drop_table("archive_head")
