"""messages: the thread each message belongs to, and the no-response-needed mark

A message's thread is its parent's thread, or itself when it starts one; rows
already stored get theirs by following parent links from the thread starts.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("no_response_needed", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_index("ix_messages_thread", ["thread_id", "direction", "received_at"])
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE messages SET thread_id = id WHERE parent_id IS NULL"))
    while bind.execute(sa.text(
        "UPDATE messages SET thread_id = (SELECT p.thread_id FROM messages p"
        " WHERE p.id = messages.parent_id)"
        " WHERE thread_id IS NULL AND EXISTS (SELECT 1 FROM messages p"
        " WHERE p.id = messages.parent_id AND p.thread_id IS NOT NULL)"
    )).rowcount:
        pass
    bind.execute(sa.text("UPDATE messages SET thread_id = id WHERE thread_id IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_thread")
        batch_op.drop_column("no_response_needed")
        batch_op.drop_column("thread_id")
