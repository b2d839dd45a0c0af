"""seller_addresses: one address belongs to at most one seller

An address two sellers held (possible before this revision) stays with one of
them: the seller whose primary address it is, else the first seller id in
sort order. The other loses the right to send from it, which `relay seller
authorize` can give back to whichever seller should have it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A row loses to another seller's row for the same address that is that seller's
# primary while it is not its own, or that is as primary and has the smaller id.
_DEDUPLICATE = """
DELETE FROM seller_addresses WHERE EXISTS (
    SELECT 1 FROM seller_addresses AS other
    JOIN sellers AS other_seller ON other_seller.id = other.seller_id
    JOIN sellers AS this_seller ON this_seller.id = seller_addresses.seller_id
    WHERE other.address = seller_addresses.address
      AND other.seller_id <> seller_addresses.seller_id
      AND (
        (other_seller.email = other.address AND this_seller.email <> seller_addresses.address)
        OR ((other_seller.email = other.address) = (this_seller.email = seller_addresses.address)
            AND other.seller_id < seller_addresses.seller_id)
      )
)
"""


def upgrade() -> None:
    op.execute(sa.text(_DEDUPLICATE))
    with op.batch_alter_table("seller_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seller_addresses_address"))
        batch_op.create_index(batch_op.f("ix_seller_addresses_address"), ["address"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("seller_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seller_addresses_address"))
        batch_op.create_index(batch_op.f("ix_seller_addresses_address"), ["address"], unique=False)
