"""Export a conversation as JSON: its turns, decisions, handoffs and delivered replies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from core.errors import NotFoundError
from core.model.turn import ConversationKey
from core.store.schema import conversations, decisions, handoffs, outbox, turns
from core.store.store import Store


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def export_conversation(store: Store, key: ConversationKey) -> dict[str, Any]:
    """Everything kefu knows about one conversation, JSON-ready (images as sha256 refs).

    Raises:
        NotFoundError: no such conversation.
    """
    return await store.db.read(lambda conn: _export(conn, key))


def _export(conn: Connection, key: ConversationKey) -> dict[str, Any]:
    if True:
        conv = (
            conn.execute(
                select(conversations).where(
                    conversations.c.platform == key.channel,
                    conversations.c.chat_id == key.chat_id,
                    conversations.c.thread_id == key.thread_id,
                )
            )
        ).one_or_none()
        if conv is None:
            raise NotFoundError(f"no conversation {key.as_str()}")
        turn_rows = conn.execute(
            select(turns).where(turns.c.conversation_id == conv.id).order_by(turns.c.id)
        )
        decision_rows = conn.execute(
            select(decisions).where(decisions.c.conversation_id == conv.id).order_by(decisions.c.id)
        )
        handoff_rows = conn.execute(
            select(handoffs).where(handoffs.c.conversation_id == conv.id).order_by(handoffs.c.id)
        )
        outbox_rows = conn.execute(
            select(outbox).where(outbox.c.conversation_id == conv.id).order_by(outbox.c.id)
        )
        return {
            "conversation": {
                "key": key.as_str(),
                "state": conv.state,
                "created_at": _iso(conv.created_at),
            },
            "turns": [
                {
                    "id": t.id,
                    "role": t.role,
                    "sender_id": t.sender_id,
                    "sender_name": t.sender_name,
                    "message_id": t.platform_message_id,
                    "text": t.text,
                    "parts": t.parts,
                    "command": t.command,
                    "command_arg": t.command_arg,
                    "problem": t.problem,
                    "sent_at": _iso(t.sent_at),
                }
                for t in turn_rows
            ],
            "decisions": [
                {
                    "turn_id": d.turn_id,
                    "kind": d.kind,
                    "confidence": d.confidence,
                    "components": d.components,
                    "reasons": d.reasons,
                    "model": d.model,
                    "at": _iso(d.created_at),
                }
                for d in decision_rows
            ],
            "handoffs": [
                {
                    "id": h.id,
                    "status": h.status,
                    "reason": h.reason,
                    "target": h.target,
                    "staff_ref": h.staff_ref,
                    "taken_by": h.taken_by,
                    "pinged_at": _iso(h.pinged_at),
                    "created_at": _iso(h.created_at),
                    "updated_at": _iso(h.updated_at),
                }
                for h in handoff_rows
            ],
            "replies": [
                {
                    "turn_id": o.turn_id,
                    "seq": o.seq,
                    "final": o.final,
                    "status": o.status,
                    "text": o.payload.get("text"),
                    "kind": o.payload.get("kind"),
                    "attempts": o.attempts,
                    "delivered_at": _iso(o.delivered_at),
                }
                for o in outbox_rows
            ],
        }


async def export_conversation_from_url(url: str, key: str) -> dict[str, Any]:
    """Open the store at ``url`` and export ``key`` (``platform|chat|thread``)."""
    store = await Store.open(url)
    try:
        channel, _, rest = key.partition("|")
        chat_id, _, thread_id = rest.partition("|")
        conversation_key = ConversationKey.from_channel(channel, chat_id, thread_id)
        return await export_conversation(store, conversation_key)
    finally:
        await store.close()
