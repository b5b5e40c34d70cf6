"""Finding the work a claim may take: the oldest open row of each conversation, if ready.

Replies and answers go out in order per conversation, so only a conversation's oldest open
row may be claimed. Walking the open rows in id order (a partial index over open rows) and
skipping conversations already seen finds those heads in time proportional to the rows
walked, whatever the table's history and whatever the planner's statistics say. The same
question as one SQL statement (``NOT EXISTS`` an older open row) was planned as a nested
loop over the whole open set when PostgreSQL's statistics were stale, which made claims
quadratic in the backlog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Select

PAGE = 256


def open_heads(
    conn: Connection,
    open_rows: Select[Any],
    ready: Callable[[Any], bool],
    limit: int,
    page: int = PAGE,
) -> list[Any]:
    """The first ``limit`` rows that head their conversation's open rows and are ``ready``.

    Args:
        conn: Connection to read on.
        open_rows: Selects open rows with ``id`` and ``conversation_id``, ``id > :after``,
            in id order, ``LIMIT :page``.
        ready: Whether a head row may be claimed now (due, or its lease expired).
        limit: Most rows to return.
        page: Rows read per statement.
    """
    seen: set[int] = set()
    heads: list[Any] = []
    after = 0
    while len(heads) < limit:
        rows = conn.execute(open_rows, {"after": after, "page": page}).all()
        for row in rows:
            if row.conversation_id in seen:
                continue  # an older row of this conversation is still open
            seen.add(row.conversation_id)
            if ready(row):
                heads.append(row)
                if len(heads) == limit:
                    break
        if len(rows) < page:
            break
        after = rows[-1].id
    return heads
