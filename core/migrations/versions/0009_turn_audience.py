"""Turns know their audience: ``turns.audience`` is ``group`` for a message sent in a group
chat (NULL: private), so personal data is never answered where a group reads it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("turns")}
    # 0001 builds the tables from the current schema, which already has this column.
    if "audience" not in present:
        op.add_column("turns", sa.Column("audience", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("turns", "audience")
