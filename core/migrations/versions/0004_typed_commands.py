"""Typed commands: a command's argument and a content problem get their own columns.

Before, a turn's ``command`` column also held content problems (``unsupported``,
``image_error``) and raw button payloads (``action:<id>:handoff:take:12``); they are moved
into ``problem`` and ``command`` + ``command_arg``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from core.model.turn import ContentProblem, parse_command_token

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

turns = sa.table(
    "turns",
    sa.column("id", sa.Integer),
    sa.column("command", sa.String),
    sa.column("command_arg", sa.String),
    sa.column("problem", sa.String),
)


def upgrade() -> None:
    bind = op.get_bind()
    present = {c["name"] for c in sa.inspect(bind).get_columns("turns")}
    # 0001 builds the tables from the current schema, which already has these columns.
    if "command_arg" not in present:
        op.add_column("turns", sa.Column("command_arg", sa.String(64), nullable=True))
    if "problem" not in present:
        op.add_column("turns", sa.Column("problem", sa.String(16), nullable=True))
    problems = [p.value for p in ContentProblem]
    op.execute(
        turns.update()
        .where(turns.c.command.in_(problems))
        .values(problem=turns.c.command, command=None)
    )
    rows = bind.execute(
        sa.select(turns.c.id, turns.c.command).where(
            sa.or_(turns.c.command.like("action:%"), turns.c.command.like("handoff:%"))
        )
    ).all()
    for row in rows:
        token = row.command.split(":", 2)[-1] if row.command.startswith("action:") else row.command
        parsed = parse_command_token(token)
        command, arg = (parsed[0].value, parsed[1] or None) if parsed else (None, None)
        bind.execute(
            turns.update().where(turns.c.id == row.id).values(command=command, command_arg=arg)
        )


def downgrade() -> None:
    op.execute(
        turns.update()
        .where(turns.c.problem.is_not(None))
        .values(command=turns.c.problem)
    )
    op.drop_column("turns", "problem")
    op.drop_column("turns", "command_arg")
