"""messages: refused messages on record, with the reply and the rule that refused them

A refused message keeps no content and was given no relay Message-ID, so that
column becomes nullable (a unique column holds any number of NULLs on both backends).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("relay_message_id", existing_type=sa.String(length=998),
                              nullable=True)
        batch_op.add_column(sa.Column("reply_code", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reply_enhanced", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("reply_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rule", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE status = 'refused'")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("rule")
        batch_op.drop_column("reply_text")
        batch_op.drop_column("reply_enhanced")
        batch_op.drop_column("reply_code")
        batch_op.alter_column("relay_message_id", existing_type=sa.String(length=998),
                              nullable=False)
