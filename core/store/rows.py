"""Statements shared by the one-by-one and the group-committed writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, select, tuple_

from core.errors import StoreError
from core.model.turn import Audience, ConversationKey, ImagePart, Turn
from core.store import codec
from core.store.bulk import BulkInsert
from core.store.db import insert_ignore
from core.store.schema import conversations, images, outbox, turns

# Statements are built once: SQLAlchemy's per-call construction costs more than the query.
_IGNORING_INSERTS = {
    (dialect, table.name): BulkInsert(insert_ignore(dialect, table))
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
_INSERTS = {table.name: BulkInsert(table.insert()) for table in (turns, outbox)}
_INSERTS_RETURNING = {
    table.name: table.insert().returning(table.c.id, sort_by_parameter_order=True)
    for table in (turns, outbox)
}
_LAST_IDS = {table.name: select(func.max(table.c.id)) for table in (turns, outbox)}
_IDS_AFTER = {
    table.name: select(table.c.id).where(table.c.id > bindparam("after")).order_by(table.c.id)
    for table in (turns, outbox)
}


def ensure_conversations(
    conn: Connection, dialect: str, keys: Iterable[ConversationKey], now: datetime
) -> dict[ConversationKey, int]:
    """Create the conversation rows that do not exist yet; return every key's id."""
    keys = set(keys)
    if not keys:
        return {}
    _IGNORING_INSERTS[dialect, "conversations"].run(
        conn,
        dialect,
        [
            {
                "platform": k.channel,
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
        _CONVERSATION_IDS, {"keys": [(k.channel, k.chat_id, k.thread_id) for k in keys]}
    )
    return {
        ConversationKey.from_channel(r.platform, r.chat_id, r.thread_id): int(r.id) for r in rows
    }


def ensure_images(conn: Connection, dialect: str, parts: list[ImagePart], now: datetime) -> None:
    """Store each image once, by content hash."""
    unique = {image.sha256: image for image in parts}
    if not unique:
        return
    _IGNORING_INSERTS[dialect, "images"].run(
        conn,
        dialect,
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
        "command": turn.command.value if turn.command else None,
        "command_arg": turn.command_arg or None,
        "problem": turn.problem.value if turn.problem else None,
        "audience": None if turn.audience is Audience.PRIVATE else turn.audience.value,
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
    return insert_ids(conn, dialect, turns, rows)


def insert_ids(
    conn: Connection, dialect: str, table: Table, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert ``rows`` into ``table`` (turns or outbox) in one go; their new ids, in order.

    Raises:
        StoreError: the new ids could not be told apart (never expected).
    """
    if dialect != "sqlite":
        return [int(i) for i in conn.execute(_INSERTS_RETURNING[table.name], rows).scalars()]
    # SQLite returns RETURNING rows in no set order, so SQLAlchemy would insert row by row
    # (a statement per row). Inside a write transaction nobody else inserts, and each new
    # row gets the highest id so far plus one: the new ids are those above the old highest.
    before = conn.execute(_LAST_IDS[table.name]).scalar() or 0
    _INSERTS[table.name].run(conn, dialect, rows)
    ids = [int(i) for i in conn.execute(_IDS_AFTER[table.name], {"after": before}).scalars()]
    if len(ids) != len(rows):
        raise StoreError(f"inserted {len(rows)} rows into {table.name}, found {len(ids)} ids")
    return ids
