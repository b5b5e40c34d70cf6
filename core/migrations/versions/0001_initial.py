"""Initial schema: conversations, images, turns, inbox, outbox, decisions, handoffs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

from core.store.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first revision creates the tables exactly as declared in core/store/schema.py;
    # later revisions must be explicit ALTERs.
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
