"""Insert statements shared by the one-by-one and the group-committed inbox writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.store import codec
from core.store.db import insert_ignore
from core.store.schema import conversations, images
from core.turn import ConversationKey, ImagePart, Turn


async def ensure_conversation(
    conn: AsyncConnection, engine: AsyncEngine, key: ConversationKey, now: datetime
) -> None:
    """Create the conversation row for ``key`` unless it exists."""
    await conn.execute(
        insert_ignore(
            engine,
            conversations,
            platform=key.platform,
            chat_id=key.chat_id,
            thread_id=key.thread_id,
            state="bot",
            failures=0,
            created_at=now,
            updated_at=now,
        )
    )


async def ensure_images(
    conn: AsyncConnection, engine: AsyncEngine, parts: list[ImagePart], now: datetime
) -> None:
    """Store each image once, by content hash."""
    seen: set[str] = set()
    for image in parts:
        if image.sha256 in seen:
            continue
        seen.add(image.sha256)
        await conn.execute(
            insert_ignore(
                engine,
                images,
                sha256=image.sha256,
                mime=image.mime,
                width=image.width,
                height=image.height,
                data=image.data,
                created_at=now,
            )
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
