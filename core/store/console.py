"""Reads for the operator desk: the handoff queue, conversations, one conversation's turns
with their decisions, queue depths. Read-only; every write goes through the inbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, not_, select

from core.model.decision import ConversationState, HandoffStatus
from core.model.turn import ConversationKey, Role
from core.store.db import as_utc
from core.store.schema import conversations, decisions, handoffs, inbox, outbox, turns
from core.store.store import Store


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One handoff on the desk."""

    id: int
    conversation_id: int
    key: ConversationKey
    status: HandoffStatus
    reason: str
    target: str
    opened: bool  # the desk has its staff side (actions are possible)
    taken_by: str | None
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    id: int
    key: ConversationKey
    state: ConversationState
    failures: int
    turns: int
    last_text: str
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class DecisionEntry:
    turn_id: int | None
    kind: str
    confidence: float | None
    components: tuple[dict[str, Any], ...]
    reasons: tuple[str, ...]
    model: str | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class TurnEntry:
    id: int
    role: Role
    sender: str
    text: str
    images: tuple[str, ...]  # sha256 of each photo
    command: str | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    conversation: ConversationEntry
    turns: tuple[TurnEntry, ...]
    decisions: tuple[DecisionEntry, ...]
    handoffs: tuple[QueueEntry, ...]


class ConsoleReads:
    """The queries behind ``/ops``.

    Args:
        store: The durable store.
        hidden_chat: ``(platform, chat id)`` of conversations that are a desk's own staff
            threads, left out of the conversation list.
    """

    def __init__(self, store: Store, hidden_chat: tuple[str, str] | None = None) -> None:
        self.store = store
        self.hidden = hidden_chat

    async def queue(self, statuses: Sequence[HandoffStatus], limit: int = 100) -> list[QueueEntry]:
        """Handoffs in ``statuses``, newest first."""
        query = (
            _handoff_select()
            .where(handoffs.c.status.in_([s.value for s in statuses]))
            .order_by(handoffs.c.id.desc())
            .limit(limit)
        )
        return await self.store.db.read(lambda c: [_queue_entry(r) for r in c.execute(query)])

    async def handoff(self, handoff_id: int) -> QueueEntry | None:
        query = _handoff_select().where(handoffs.c.id == handoff_id)
        row = await self.store.db.read(lambda c: c.execute(query).one_or_none())
        return _queue_entry(row) if row is not None else None

    async def conversations(
        self, platform: str | None = None, state: ConversationState | None = None, limit: int = 100
    ) -> list[ConversationEntry]:
        """Conversations by last activity, optionally of one platform and state."""
        query = _conversation_select()
        if platform:
            query = query.where(conversations.c.platform == platform)
        if state:
            query = query.where(conversations.c.state == state.value)
        if self.hidden:
            platform_, chat = self.hidden
            query = query.where(
                not_(and_(conversations.c.platform == platform_, conversations.c.chat_id == chat))
            )
        ordered = query.order_by(conversations.c.updated_at.desc()).limit(limit)
        return await self.store.db.read(lambda c: [_conversation(r) for r in c.execute(ordered)])

    async def platforms(self) -> list[str]:
        query = select(conversations.c.platform).distinct().order_by(conversations.c.platform)
        return await self.store.db.read(lambda c: [r.platform for r in c.execute(query)])

    async def detail(self, conversation_id: int, limit: int = 200) -> ConversationDetail | None:
        """One conversation's last ``limit`` turns, its decisions and handoffs."""
        return await self.store.db.read(lambda c: _detail(c, conversation_id, limit))

    async def key_of(self, conversation_id: int) -> ConversationKey | None:
        query = select(conversations).where(conversations.c.id == conversation_id)
        row = await self.store.db.read(lambda c: c.execute(query).one_or_none())
        return _key(row) if row is not None else None

    async def depths(self) -> dict[str, int]:
        """Open inbox and outbox rows by status, and dead letters."""

        def work(conn: Connection) -> dict[str, int]:
            out: dict[str, int] = {}
            for table in (inbox, outbox):
                rows = conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
                out.update({f"{table.name}.{status}": int(n) for status, n in rows})
            return out

        return await self.store.db.read(work)


def _key(row: Any) -> ConversationKey:
    return ConversationKey.from_channel(row.platform, row.chat_id, row.thread_id)


def _handoff_select() -> Any:
    return select(
        handoffs, conversations.c.platform, conversations.c.chat_id, conversations.c.thread_id
    ).join(conversations, conversations.c.id == handoffs.c.conversation_id)


def _queue_entry(row: Any) -> QueueEntry:
    return QueueEntry(
        row.id, row.conversation_id, _key(row), HandoffStatus(row.status), row.reason,
        row.target, row.staff_ref is not None, row.taken_by, as_utc(row.created_at),
        as_utc(row.updated_at),
    )  # fmt: skip


def _conversation_select() -> Any:
    count = (
        select(func.count())
        .where(turns.c.conversation_id == conversations.c.id)
        .scalar_subquery()
        .label("turn_count")
    )
    last = (
        select(turns.c.text)
        .where(turns.c.conversation_id == conversations.c.id)
        .order_by(turns.c.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("last_text")
    )
    return select(conversations, count, last)


def _conversation(row: Any) -> ConversationEntry:
    return ConversationEntry(
        row.id, _key(row), ConversationState(row.state), row.failures, int(row.turn_count or 0),
        (row.last_text or "")[:160], as_utc(row.updated_at),
    )  # fmt: skip


def _detail(conn: Connection, conversation_id: int, limit: int) -> ConversationDetail | None:
    row = conn.execute(
        _conversation_select().where(conversations.c.id == conversation_id)
    ).one_or_none()
    if row is None:
        return None
    turn_rows = conn.execute(
        select(turns).where(turns.c.conversation_id == conversation_id)
        .order_by(turns.c.id.desc()).limit(limit)
    ).all()  # fmt: skip
    decision_rows = conn.execute(
        select(decisions).where(decisions.c.conversation_id == conversation_id)
        .order_by(decisions.c.id.desc()).limit(limit)
    ).all()  # fmt: skip
    handoff_rows = conn.execute(
        _handoff_select().where(handoffs.c.conversation_id == conversation_id)
        .order_by(handoffs.c.id)
    ).all()  # fmt: skip
    return ConversationDetail(
        _conversation(row),
        tuple(_turn(r) for r in reversed(turn_rows)),
        tuple(_decision(r) for r in reversed(decision_rows)),
        tuple(_queue_entry(r) for r in handoff_rows),
    )


def _turn(row: Any) -> TurnEntry:
    images = tuple(p["sha256"] for p in row.parts if p.get("type") == "image")
    return TurnEntry(
        row.id, Role(row.role), row.sender_name or row.sender_id, row.text, images, row.command,
        as_utc(row.sent_at),
    )  # fmt: skip


def _decision(row: Any) -> DecisionEntry:
    return DecisionEntry(
        row.turn_id, row.kind, row.confidence, tuple(row.components or ()),
        tuple(str(r) for r in row.reasons or ()), row.model, as_utc(row.created_at),
    )  # fmt: skip
