"""The durable store: conversations, turns, images, the inbox, the outbox and the decision log.

All writes that must happen together (a turn and its inbox row; an answer's outbox rows,
bot turns, decision and the inbox row's completion) happen in one transaction, which is
what makes "answered exactly once" hold across crashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.bot import HistoryItem
from core.errors import NotFoundError, StoreError
from core.ports import IngestResult
from core.store import codec
from core.store.db import as_utc, create_engine, migrate, utcnow
from core.store.group_commit import GroupCommitter
from core.store.rows import ensure_conversation, ensure_images, turn_row
from core.store.schema import conversations, decisions, handoffs, images, inbox, outbox, turns
from core.turn import ConversationKey, ImagePart, Role, Sender, Turn


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    key: ConversationKey
    state: str
    failures: int
    memory_reset_at: datetime | None


class Store:
    """Async access to kefu's durable state. Create with :meth:`open`.

    Args:
        engine: An async SQLAlchemy engine, already migrated.
    """

    def __init__(self, engine: AsyncEngine, group_commit: bool = True) -> None:
        self.engine = engine
        self._listeners: list[Any] = []
        self._committer = GroupCommitter(self) if group_commit else None

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to ``url`` (``sqlite+aiosqlite://…`` or ``postgresql+asyncpg://…``) and migrate.

        Raises:
            StoreError: the database cannot be reached or migrated.
        """
        engine = create_engine(url)
        try:
            await migrate(engine)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise StoreError(f"cannot open store at {url.split('@')[-1]}: {exc}") from exc
        return cls(engine)

    async def close(self) -> None:
        if self._committer is not None:
            await self._committer.close()
        await self.engine.dispose()

    def on_new_turn(self, callback: Any) -> None:
        """Register a zero-argument callable run after each new inbox turn (wakes workers)."""
        self._listeners.append(callback)

    # -- inbox ---------------------------------------------------------------------------

    def notify_new_turns(self) -> None:
        for listener in self._listeners:
            listener()

    async def put(self, turn: Turn) -> IngestResult:
        """Store ``turn`` durably in the inbox; idempotent on (platform, message id).

        Implements :class:`core.ports.InboxPort`. Returns only after the commit; turns put
        concurrently share one transaction (group commit).

        Raises:
            StoreError: the write failed; the caller must not acknowledge the platform.
        """
        if self._committer is not None:
            return await self._committer.put(turn)
        result = await self.put_one(turn)
        if not result.duplicate:
            self.notify_new_turns()
        return result

    async def put_one(self, turn: Turn) -> IngestResult:
        """Store one turn in its own transaction (the group commit's fallback)."""
        existing = await self._find_inbox(turn.key.platform, turn.message_id)
        if existing is not None:
            return IngestResult(existing, duplicate=True)
        try:
            async with self.engine.begin() as conn:
                conversation_id = await self._conversation_id(conn, turn.key)
                turn_id = await self._insert_turn(conn, conversation_id, turn)
                now = utcnow()
                await conn.execute(
                    inbox.insert().values(
                        platform=turn.key.platform,
                        platform_message_id=turn.message_id,
                        conversation_id=conversation_id,
                        turn_id=turn_id,
                        status="pending",
                        attempts=0,
                        created_at=now,
                    )
                )
        except IntegrityError:
            # A concurrent delivery of the same message won the race.
            existing = await self._find_inbox(turn.key.platform, turn.message_id)
            if existing is None:
                raise StoreError("inbox insert conflicted but no row exists") from None
            return IngestResult(existing, duplicate=True)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not store turn: {exc}") from exc
        return IngestResult(turn_id, duplicate=False)

    async def _find_inbox(self, platform: str, message_id: str) -> int | None:
        try:
            async with self.engine.connect() as conn:
                row = await conn.execute(
                    select(inbox.c.turn_id).where(
                        inbox.c.platform == platform, inbox.c.platform_message_id == message_id
                    )
                )
                found = row.scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read inbox: {exc}") from exc
        return int(found) if found is not None else None

    async def _conversation_id(self, conn: AsyncConnection, key: ConversationKey) -> int:
        await ensure_conversation(conn, self.engine, key, utcnow())
        row = await conn.execute(
            select(conversations.c.id).where(
                conversations.c.platform == key.platform,
                conversations.c.chat_id == key.chat_id,
                conversations.c.thread_id == key.thread_id,
            )
        )
        return int(row.scalar_one())

    async def _insert_turn(self, conn: AsyncConnection, conversation_id: int, turn: Turn) -> int:
        now = utcnow()
        await ensure_images(conn, self.engine, list(turn.images), now)
        result = await conn.execute(turns.insert().values(**turn_row(turn, conversation_id, now)))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    async def record_turn(self, turn: Turn) -> int:
        """Store a turn that needs no answer (a bot or staff message), outside the inbox."""
        async with self.engine.begin() as conn:
            conversation_id = await self._conversation_id(conn, turn.key)
            return await self._insert_turn(conn, conversation_id, turn)

    # -- reading -------------------------------------------------------------------------

    async def load_images(self, hashes: set[str]) -> dict[str, ImagePart]:
        if not hashes:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(images).where(images.c.sha256.in_(hashes)))
            return {
                r.sha256: ImagePart(bytes(r.data), r.mime, r.width, r.height, r.sha256)
                for r in rows
            }

    async def load_turn(self, turn_id: int) -> Turn:
        """Rebuild a stored turn, images included.

        Raises:
            NotFoundError: no such turn.
        """
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        turns,
                        conversations.c.platform,
                        conversations.c.chat_id,
                        conversations.c.thread_id,
                    )
                    .join(conversations, conversations.c.id == turns.c.conversation_id)
                    .where(turns.c.id == turn_id)
                )
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"turn {turn_id} not found")
        hashes = {p["sha256"] for p in row.parts if p["type"] == "image"}
        parts = codec.parts_from_json(row.parts, await self.load_images(hashes))
        return Turn(
            key=ConversationKey(row.platform, row.chat_id, row.thread_id),
            sender=Sender(row.sender_id, row.sender_name, Role(row.role)),
            message_id=row.platform_message_id or "",
            parts=parts,
            timestamp=as_utc(row.sent_at) or utcnow(),
            reply_to=row.reply_to,
            command=row.command,
        )

    async def conversation(self, key: ConversationKey) -> Conversation:
        """The conversation for ``key``, created when new (a read in the common case)."""
        by_key = select(conversations).where(
            conversations.c.platform == key.platform,
            conversations.c.chat_id == key.chat_id,
            conversations.c.thread_id == key.thread_id,
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(by_key)).one_or_none()
        if row is None:
            async with self.engine.begin() as conn:
                await self._conversation_id(conn, key)
                row = (await conn.execute(by_key)).one()
        return Conversation(row.id, key, row.state, row.failures, as_utc(row.memory_reset_at))

    async def history(
        self, conversation_id: int, rounds: int, before_turn: int | None = None
    ) -> list[HistoryItem]:
        """The last ``rounds`` customer/bot rounds (2 × rounds messages) since the last reset."""
        async with self.engine.connect() as conn:
            reset = (
                await conn.execute(
                    select(conversations.c.memory_reset_at).where(
                        conversations.c.id == conversation_id
                    )
                )
            ).scalar_one_or_none()
            query = select(turns.c.role, turns.c.text).where(
                turns.c.conversation_id == conversation_id, turns.c.command.is_(None)
            )
            if before_turn is not None:
                query = query.where(turns.c.id < before_turn)
            if reset is not None:
                query = query.where(turns.c.stored_at > reset)
            rows = (await conn.execute(query.order_by(turns.c.id.desc()).limit(rounds * 2))).all()
        return [HistoryItem(Role(r.role), r.text) for r in reversed(rows) if r.text]

    async def reset_memory(self, conversation_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(memory_reset_at=utcnow(), failures=0, updated_at=utcnow())
            )

    async def set_state(self, conversation_id: int, state: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(state=state, updated_at=utcnow())
            )

    async def counts(self) -> dict[str, int]:
        """Row counts per table and per inbox/outbox status, for health pages and tests."""
        out: dict[str, int] = {}
        async with self.engine.connect() as conn:
            for table in (conversations, turns, decisions, handoffs):
                out[table.name] = int(
                    (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                )
            for table in (inbox, outbox):
                rows = await conn.execute(
                    select(table.c.status, func.count()).group_by(table.c.status)
                )
                for status, count in rows:
                    out[f"{table.name}.{status}"] = int(count)
        return out

    async def purge(self) -> None:
        """Delete everything (tests and the bench only)."""
        async with self.engine.begin() as conn:
            for table in (decisions, handoffs, outbox, inbox, turns, images, conversations):
                await conn.execute(delete(table))

    async def turn_settled(self, turn_id: int) -> bool:
        """True once the turn is answered and every reply to it is delivered or dead."""
        async with self.engine.connect() as conn:
            status = (
                await conn.execute(select(inbox.c.status).where(inbox.c.turn_id == turn_id))
            ).scalar_one_or_none()
            open_replies = (
                await conn.execute(
                    select(func.count())
                    .select_from(outbox)
                    .where(outbox.c.turn_id == turn_id, outbox.c.status.in_(("pending", "sending")))
                )
            ).scalar_one()
        return status in ("done", "failed") and open_replies == 0

    async def delivered_outbox(self) -> list[dict[str, Any]]:
        """Delivered outbox rows with their payloads, oldest first (tests and demos)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox).where(and_(outbox.c.status == "delivered")).order_by(outbox.c.id)
            )
            return [dict(r._mapping) for r in rows]
