"""Held turns with parts still being fetched: ``inbox.pending`` lists the references (for
Slack: files slower than the acknowledgement budget) the receiving adapter resolves before it
releases the row's hold (``available_at``); see :mod:`core.store.held`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inbox")}
    # 0001 builds the tables from the current schema, which already has this column.
    if "pending" not in present:
        op.add_column("inbox", sa.Column("pending", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("inbox", "pending")
