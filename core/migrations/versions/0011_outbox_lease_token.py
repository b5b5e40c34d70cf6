"""Outbox rows carry a fencing token: ``outbox.lease_token`` goes up by one at every claim,
so a holder whose delivery lease lapsed (and was taken over) can neither send nor record.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("outbox")}
    # 0001 builds the tables from the current schema, which already has this column.
    if "lease_token" not in present:
        op.add_column(
            "outbox",
            sa.Column("lease_token", sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    op.drop_column("outbox", "lease_token")
