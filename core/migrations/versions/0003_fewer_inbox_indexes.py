"""Drop the indexes claims no longer use; index the inbox by turn.

Claims now walk open rows in id order (``ix_inbox_open_id``, ``ix_outbox_open_id``), so the
per-conversation and per-status inbox indexes only cost time on every insert and update.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from alembic import op

from core.store.schema import INBOX_OPEN, OUTBOX_OPEN

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DROPPED = (
    ("ix_inbox_status", "inbox", ["status", "id"], None),
    ("ix_inbox_conversation", "inbox", ["conversation_id", "id"], None),
    ("ix_inbox_open", "inbox", ["conversation_id", "id"], INBOX_OPEN),
    ("ix_outbox_open", "outbox", ["conversation_id", "id"], OUTBOX_OPEN),
)


def upgrade() -> None:
    for name, table, _columns, _where in DROPPED:
        op.drop_index(name, table_name=table, if_exists=True)
    # 0001 builds the tables from the current schema, which already declares this one.
    op.create_index("ix_inbox_turn", "inbox", ["turn_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_inbox_turn", table_name="inbox")
    for name, table, columns, where in DROPPED:
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where)
