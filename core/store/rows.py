"""Statements shared by the one-by-one and the group-committed writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_

from core.store import codec
from core.store.db import insert_ignore
from core.store.schema import conversations, images, turns
from core.turn import ConversationKey, ImagePart, Turn

# Statements are built once: SQLAlchemy's per-call construction costs more than the query.
_IGNORING_INSERTS = {
    (dialect, table.name): insert_ignore(dialect, table)
    for dialect in ("sqlite", "postgresql")
    for table in (conversations, images)
}
_CONVERSATION_IDS = select(
    conversations.c.id, conversations.c.platform, conversations.c.chat_id, conversations.c.thread_id
).where(
    tuple_(conversations.c.platform, conversations.c.chat_id, conversations.c.thread_id).in_(
        bindparam("keys", expanding=True)
    )
)
_TURN_INSERT = turns.insert().returning(turns.c.id, sort_by_parameter_order=True)


def ensure_conversations(
    conn: Connection, dialect: str, keys: Iterable[ConversationKey], now: datetime
) -> dict[ConversationKey, int]:
    """Create the conversation rows that do not exist yet; return every key's id."""
    keys = set(keys)
    if not keys:
        return {}
    conn.execute(
        _IGNORING_INSERTS[dialect, "conversations"],
        [
            {
                "platform": k.platform,
                "chat_id": k.chat_id,
                "thread_id": k.thread_id,
                "state": "bot",
                "failures": 0,
                "created_at": now,
                "updated_at": now,
            }
            for k in keys
        ],
    )
    rows = conn.execute(
        _CONVERSATION_IDS, {"keys": [(k.platform, k.chat_id, k.thread_id) for k in keys]}
    )
    return {ConversationKey(r.platform, r.chat_id, r.thread_id): int(r.id) for r in rows}


def ensure_images(conn: Connection, dialect: str, parts: list[ImagePart], now: datetime) -> None:
    """Store each image once, by content hash."""
    unique = {image.sha256: image for image in parts}
    if not unique:
        return
    conn.execute(
        _IGNORING_INSERTS[dialect, "images"],
        [
            {
                "sha256": image.sha256,
                "mime": image.mime,
                "width": image.width,
                "height": image.height,
                "data": image.data,
                "created_at": now,
            }
            for image in unique.values()
        ],
    )


def turn_row(turn: Turn, conversation_id: int, now: datetime) -> dict[str, Any]:
    """The ``turns`` row for ``turn``."""
    return {
        "conversation_id": conversation_id,
        "role": turn.sender.role.value,
        "sender_id": turn.sender.user_id,
        "sender_name": turn.sender.display_name,
        "platform_message_id": turn.message_id,
        "text": turn.text,
        "parts": codec.parts_to_json(turn.parts),
        "reply_to": turn.reply_to,
        "command": turn.command,
        "sent_at": turn.timestamp,
        "stored_at": now,
    }


def insert_turns(
    conn: Connection, dialect: str, items: Sequence[tuple[int, Turn]], now: datetime
) -> list[int]:
    """Insert turns (conversation id, turn) and their images in one statement; their ids."""
    if not items:
        return []
    ensure_images(conn, dialect, [image for _, turn in items for image in turn.images], now)
    rows = [turn_row(turn, conversation_id, now) for conversation_id, turn in items]
    result = conn.execute(_TURN_INSERT, rows)
    return [int(turn_id) for turn_id in result.scalars()]
