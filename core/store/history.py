"""Reading conversation history: the last rounds before a turn, since the last memory reset.

A claim of many turns reads the history of every one of them in one statement: a UNION
ALL of one ``ORDER BY id DESC LIMIT n`` part per conversation. Each part walks the
``(conversation_id, id)`` index backwards and stops after ``n`` rows, however long the
conversation; one statement instead of one per turn saves SQLAlchemy's per-statement
work (~50 µs each), which the claiming transaction would otherwise spend per turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, literal_column, or_, select, union_all

from core.model.turn import HistoryItem, Role
from core.store.schema import conversations, turns

_NO_LIMIT = 2**62


def read_history(
    conn: Connection, conversation_id: int, rounds: int, before_turn: int | None
) -> list[HistoryItem]:
    """The last ``rounds`` rounds of a conversation since its last memory reset."""
    return read_histories(conn, [(conversation_id, before_turn)], rounds)[0]


def read_histories(
    conn: Connection, heads: Sequence[tuple[int, int | None]], rounds: int
) -> list[list[HistoryItem]]:
    """The history before each (conversation id, turn id) pair, in one statement.

    Args:
        conn: Connection to read on.
        heads: (conversation id, turn id) pairs; a turn id of None means the whole history.
        rounds: Customer/bot rounds per conversation (2 × rounds messages at most).

    Returns:
        One chronological list per pair, in the order of ``heads``.
    """
    if not heads:
        return []
    parameters: dict[str, Any] = {"limit": rounds * 2}
    for slot, (conversation_id, before) in enumerate(heads):
        parameters[f"conversation_{slot}"] = conversation_id
        parameters[f"before_{slot}"] = before if before is not None else _NO_LIMIT
    rows: list[list[Any]] = [[] for _ in heads]
    for row in conn.execute(_statement(len(heads)), parameters):
        rows[row.slot].append(row)
    return [
        [HistoryItem(Role(r.role), r.text) for r in sorted(slot, key=lambda r: r.id) if r.text]
        for slot in rows
    ]


@lru_cache(maxsize=512)
def _statement(count: int) -> Any:
    """The UNION ALL of ``count`` parts, built once per size (claims come in few sizes)."""
    parts = [select(p.c.slot, p.c.id, p.c.role, p.c.text) for p in map(_part, range(count))]
    return parts[0] if count == 1 else union_all(*parts)


def _part(slot: int) -> Any:
    conversation: Any = bindparam(f"conversation_{slot}")
    reset_at = (
        select(conversations.c.memory_reset_at)
        .where(conversations.c.id == conversation)
        .scalar_subquery()
    )
    return (
        select(literal_column(str(slot)).label("slot"), turns.c.id, turns.c.role, turns.c.text)
        .where(
            turns.c.conversation_id == conversation,
            turns.c.command.is_(None),
            turns.c.problem.is_(None),
            turns.c.id < bindparam(f"before_{slot}"),
            or_(reset_at.is_(None), turns.c.stored_at > reset_at),
        )
        .order_by(turns.c.id.desc())
        .limit(bindparam("limit"))
        .subquery(f"history_{slot}")
    )
