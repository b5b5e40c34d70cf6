"""Feedback: every thumbs up or down on an answer, with its turn and decision-log entry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20
"""

import sqlalchemy as sa
from alembic import op

from core.store.schema import feedback

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 builds the tables from the current schema, which already has this one.
    if "feedback" not in sa.inspect(op.get_bind()).get_table_names():
        feedback.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("feedback")
