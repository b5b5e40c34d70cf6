"""Storing new turns with their inbox rows, in batches (see :mod:`core.store.batching`).

A batch that hits a unique-key race with another process falls back to one transaction
per turn, which resolves the race row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, tuple_

from core.model.turn import ConversationKey, Turn
from core.ports import IngestResult
from core.store.bulk import BulkInsert
from core.store.db import utcnow
from core.store.rows import ensure_conversations, insert_turns
from core.store.schema import inbox

INBOX_CHANNEL = "kefu_inbox"  # PostgreSQL NOTIFY channel: new turns are in the inbox


def write_turns(conn: Connection, dialect: str, batch: Sequence[Turn]) -> list[IngestResult]:
    """Store new turns with their inbox rows; turns already in the inbox are duplicates."""
    keys = [(t.key.channel, t.message_id) for t in batch]
    existing = _existing(conn, set(keys))
    owners: dict[tuple[str, str], int] = {}
    fresh = []
    for index, key in enumerate(keys):
        if key not in existing and key not in owners:
            owners[key] = index
            fresh.append(batch[index])
    now = utcnow()
    conversation_ids = ensure_conversations(conn, dialect, {t.key for t in fresh}, now)
    turn_ids = _insert(conn, dialect, fresh, conversation_ids, now)
    if fresh and dialect == "postgresql":
        # Delivered at commit to worker processes listening (``serve --role worker``).
        conn.exec_driver_sql(f"NOTIFY {INBOX_CHANNEL}")
    new_ids = {(t.key.channel, t.message_id): tid for t, tid in zip(fresh, turn_ids, strict=True)}
    results = []
    for index, key in enumerate(keys):
        if key in existing:
            results.append(IngestResult(existing[key], duplicate=True))
        else:
            results.append(IngestResult(new_ids[key], duplicate=owners[key] != index))
    return results


def _insert(
    conn: Connection,
    dialect: str,
    fresh: Sequence[Turn],
    conversation_ids: dict[ConversationKey, int],
    now: datetime,
) -> list[int]:
    if not fresh:
        return []
    turn_ids = insert_turns(conn, dialect, [(conversation_ids[t.key], t) for t in fresh], now)
    _INBOX_INSERT.run(
        conn,
        dialect,
        [
            {
                "platform": t.key.channel,
                "platform_message_id": t.message_id,
                "conversation_id": conversation_ids[t.key],
                "turn_id": turn_id,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for t, turn_id in zip(fresh, turn_ids, strict=True)
        ],
    )
    return turn_ids


# Statements are built once: SQLAlchemy's per-call construction costs more than the query.
_INBOX_INSERT = BulkInsert(inbox.insert())
_EXISTING = select(inbox.c.platform, inbox.c.platform_message_id, inbox.c.turn_id).where(
    tuple_(inbox.c.platform, inbox.c.platform_message_id).in_(bindparam("keys", expanding=True))
)


def _existing(conn: Connection, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    rows = conn.execute(_EXISTING, {"keys": list(keys)})
    return {(r.platform, r.platform_message_id): int(r.turn_id) for r in rows}
