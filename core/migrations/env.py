"""Alembic environment: runs on the connection kefu hands over (sync side of an async engine)."""

from __future__ import annotations

from alembic import context

from core.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - kefu always passes a connection
    raise RuntimeError("run migrations through core.store.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
