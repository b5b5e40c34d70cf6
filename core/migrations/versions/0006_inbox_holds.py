"""Inbox holds: a turn may wait until a time (rate limit, engine down), and carry the
turns merged into it.

* ``available_at``: not claimable before this time (NULL: at once).
* ``joined``: ids of earlier turns of the conversation answered together with this one
  (a customer over their rate limit).
* ``held_since``: when the engine first failed this turn (the customer is told once; after
  ``worker.engine_handoff_after_s`` the conversation goes to staff).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column("available_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("joined", sa.JSON(), nullable=True),
    sa.Column("held_since", sa.DateTime(timezone=True), nullable=True),
)


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("inbox")}
    # 0001 builds the tables from the current schema, which already has these columns.
    for column in COLUMNS:
        if column.name not in present:
            op.add_column("inbox", column.copy())


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_column("inbox", column.name)
