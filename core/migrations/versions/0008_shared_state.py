"""Shared state of the replicas: ``shared_keys`` (e.g. the Slack threads the bot is in) and
``group_items`` (e.g. the photos of a Telegram album, which a load balancer may spread over
several replicas).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-21
"""

import sqlalchemy as sa
from alembic import op

from core.store.schema import group_items, shared_keys

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 builds the tables from the current schema, which already has these.
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for table in (shared_keys, group_items):
        if table.name not in present:
            table.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("group_items")
    op.drop_table("shared_keys")
