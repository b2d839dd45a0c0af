"""quota_usage: the seller's orders per day, counted once per day instead of per message

Rows of the day already under way get theirs at their next message.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quota_usage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recent_orders", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quota_usage", schema=None) as batch_op:
        batch_op.drop_column("recent_orders")
