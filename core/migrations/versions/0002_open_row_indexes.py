"""Partial indexes over open inbox/outbox rows, so claims stay fast as history grows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op

from core.store.schema import INBOX_OPEN, OUTBOX_OPEN

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_inbox_open", "inbox", ["conversation_id", "id"], INBOX_OPEN),
    ("ix_inbox_open_id", "inbox", ["id"], INBOX_OPEN),
    ("ix_outbox_open", "outbox", ["conversation_id", "id"], OUTBOX_OPEN),
    ("ix_outbox_open_id", "outbox", ["id"], OUTBOX_OPEN),
)


def upgrade() -> None:
    # 0001 builds the tables from the current schema, which already declares these.
    for name, table, columns, where in INDEXES:
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where,
                        if_not_exists=True)


def downgrade() -> None:
    for name, table, _columns, _where in INDEXES:
        op.drop_index(name, table_name=table)
