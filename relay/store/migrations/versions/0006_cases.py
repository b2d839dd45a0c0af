"""cases: at most one case per relationship is not closed; messages are found by case

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# No command opened a case before this revision, so no relationship has two.
_NOT_CLOSED = "state != 'closed'"


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "uq_cases_not_closed", ["relationship_id"], unique=True,
            sqlite_where=sa.text(_NOT_CLOSED), postgresql_where=sa.text(_NOT_CLOSED),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_case_id"))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("uq_cases_not_closed")
