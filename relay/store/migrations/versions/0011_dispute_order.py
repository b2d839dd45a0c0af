"""messages: an index on (relationship_id, received_at, id) for exporting a dispute in order

`archive export` pages through one relationship's mail oldest first by that
keyset; without the index each page would sort the relationship's messages anew.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_relationship_time", "messages",
                    ["relationship_id", "received_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_messages_relationship_time", table_name="messages")
