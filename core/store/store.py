"""The durable store: conversations, turns, images, the inbox, the outbox and the decision log.

All writes that must happen together (a turn and its inbox row; an answer's outbox rows,
bot turns, decision and the inbox row's completion) happen in one transaction, which is
what makes "answered exactly once" hold across crashes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update

from core.errors import NotFoundError, StoreConflictError, StoreError
from core.model.decision import Conversation, ConversationState
from core.model.turn import (
    Audience,
    Command,
    ContentProblem,
    ConversationKey,
    HistoryItem,
    ImagePart,
    Role,
    Sender,
    Turn,
)
from core.ports import IngestResult
from core.store import codec
from core.store.batching import WriteBatcher
from core.store.db import Database, as_utc, is_in, utcnow
from core.store.history import read_history
from core.store.inbox_writes import INBOX_CHANNEL, write_turns
from core.store.rows import ensure_conversations, insert_turns
from core.store.schema import conversations, decisions, handoffs, images, inbox, outbox, turns
from core.store.shared import SharedState


class Store:
    """Async access to kefu's durable state. Create with :meth:`open`.

    Args:
        db: The database, already migrated.
        group_commit: Share one transaction between concurrent :meth:`put` calls.
    """

    def __init__(self, db: Database, group_commit: bool = True) -> None:
        self.db = db
        self._listeners: list[Any] = []
        self.shared = SharedState(db)  # what every replica of a deployment sees
        self._committer: WriteBatcher[Turn, IngestResult] | None = None
        if group_commit:
            self._committer = WriteBatcher(
                db,
                lambda conn, batch: write_turns(conn, db.dialect, batch),
                "kefu-inbox-group-commit",
                one_by_one=self.put_one,
                after=self.notify_new_turns,
                urgent=True,  # the platforms wait for these commits: acks go first
            )

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to ``url`` (``sqlite:///…`` or ``postgresql+asyncpg://…``) and migrate.

        Raises:
            StoreError: the database cannot be reached or migrated.
        """
        db = Database(url)
        try:
            await db.migrate()
        except StoreError as exc:
            await db.dispose()
            raise StoreError(f"cannot open store at {url.split('@')[-1]}: {exc}") from exc
        return cls(db)

    async def close(self) -> None:
        await self.shared.close()
        if self._committer is not None:
            await self._committer.close()
        await self.db.dispose()

    def on_new_turn(self, callback: Any) -> None:
        """Register a zero-argument callable run after each new inbox turn (wakes workers)."""
        self._listeners.append(callback)

    async def watch_inbox(
        self, callback: Callable[[], None]
    ) -> Callable[[], Awaitable[None]] | None:
        """Call ``callback`` when another process stores new turns (PostgreSQL NOTIFY).

        Returns:
            A coroutine function that stops watching, or None on SQLite, where a worker in
            another process finds new turns by polling.

        Raises:
            StoreError: the listening connection could not be opened.
        """
        return await self.db.listen(INBOX_CHANNEL, callback)

    # -- inbox ---------------------------------------------------------------------------

    def inbound_waiting(self) -> int:
        """Turns being stored right now: requests waiting for their acknowledgement."""
        return self._committer.waiting if self._committer is not None else 0

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
            return await self._committer.submit(turn)
        result = await self.put_one(turn)
        if not result.duplicate:
            self.notify_new_turns()
        return result

    async def put_one(self, turn: Turn) -> IngestResult:
        """Store one turn in its own transaction (the group commit's fallback)."""
        try:
            written = await self.db.write(
                lambda conn: write_turns(conn, self.db.dialect, [turn]), urgent=True
            )
            return written[0]
        except StoreConflictError:
            # A concurrent delivery of the same message won the race.
            existing = await self._find_inbox(turn.key.channel, turn.message_id)
            if existing is None:
                raise StoreError("inbox insert conflicted but no row exists") from None
            return IngestResult(existing, duplicate=True)

    async def _find_inbox(self, platform: str, message_id: str) -> int | None:
        query = select(inbox.c.turn_id).where(
            inbox.c.platform == platform, inbox.c.platform_message_id == message_id
        )
        found = await self.db.read(lambda conn: conn.execute(query).scalar_one_or_none())
        return int(found) if found is not None else None

    def insert_turn(self, conn: Connection, conversation_id: int, turn: Turn) -> int:
        """Insert a turn (and its images) inside a caller's transaction; returns its id."""
        return insert_turns(conn, self.db.dialect, [(conversation_id, turn)], utcnow())[0]

    async def record_turn(self, turn: Turn) -> int:
        """Store a turn that needs no answer (a bot or staff message), outside the inbox."""

        def work(conn: Connection) -> int:
            ids = ensure_conversations(conn, self.db.dialect, [turn.key], utcnow())
            return self.insert_turn(conn, ids[turn.key], turn)

        return await self.db.write(work)

    # -- reading -------------------------------------------------------------------------

    async def load_images(self, hashes: set[str]) -> dict[str, ImagePart]:
        if not hashes:
            return {}
        return await self.db.read(lambda conn: read_images(conn, hashes))

    async def load_turn(self, turn_id: int) -> Turn:
        """Rebuild a stored turn, images included.

        Raises:
            NotFoundError: no such turn.
        """
        return await self.db.read(lambda conn: read_turn(conn, turn_id))

    async def conversation(self, key: ConversationKey) -> Conversation:
        """The conversation for ``key``, created when new (a read in the common case)."""
        row: Any = await self.db.read(lambda conn: conn.execute(_by_key(key)).one_or_none())
        if row is None:

            def create(conn: Connection) -> Any:
                ensure_conversations(conn, self.db.dialect, [key], utcnow())
                return conn.execute(_by_key(key)).one()

            row = await self.db.write(create)
        return Conversation(
            row.id, key, ConversationState(row.state), row.failures, as_utc(row.memory_reset_at)
        )

    async def history(
        self, conversation_id: int, rounds: int, before_turn: int | None = None
    ) -> list[HistoryItem]:
        """The last ``rounds`` customer/bot rounds (2 × rounds messages) since the last reset."""
        return await self.db.read(
            lambda conn: read_history(conn, conversation_id, rounds, before_turn)
        )

    async def reset_memory(self, conversation_id: int) -> None:
        statement = (
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(memory_reset_at=utcnow(), failures=0, updated_at=utcnow())
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def set_state(self, conversation_id: int, state: ConversationState) -> None:
        statement = (
            update(conversations)
            .where(conversations.c.id == conversation_id)
            .values(state=state, updated_at=utcnow())
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def counts(self) -> dict[str, int]:
        """Row counts per table and per inbox/outbox status, for health pages and tests."""

        def work(conn: Connection) -> dict[str, int]:
            out: dict[str, int] = {}
            for table in (conversations, turns, decisions, handoffs):
                count = conn.execute(select(func.count()).select_from(table)).scalar_one()
                out[table.name] = int(count)
            for table in (inbox, outbox):
                rows = conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
                for status, count in rows:
                    out[f"{table.name}.{status}"] = int(count)
            return out

        return await self.db.read(work)

    async def purge(self) -> None:
        """Delete everything (tests and the bench only)."""

        def work(conn: Connection) -> None:
            for table in (decisions, handoffs, outbox, inbox, turns, images, conversations):
                conn.execute(delete(table))

        await self.db.write(work)

    async def turn_settled(self, turn_id: int) -> bool:
        """True once the turn is answered and every reply to it is delivered or dead."""

        def work(conn: Connection) -> bool:
            status = conn.execute(
                select(inbox.c.status).where(inbox.c.turn_id == turn_id)
            ).scalar_one_or_none()
            open_replies = conn.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.turn_id == turn_id, outbox.c.status.in_(("pending", "sending")))
            ).scalar_one()
            return status in ("done", "failed") and open_replies == 0

        return await self.db.read(work)

    async def pending_stops(self, keys: Sequence[ConversationKey]) -> set[ConversationKey]:
        """Which of ``keys`` have a ``STOP`` turn waiting in the inbox (stored by another
        process, which received the stop while this one writes the answer)."""
        if not keys:
            return set()
        wanted = {(k.channel, k.chat_id, k.thread_id): k for k in keys}
        query = (
            select(conversations.c.platform, conversations.c.chat_id, conversations.c.thread_id)
            .join(inbox, inbox.c.conversation_id == conversations.c.id)
            .join(turns, turns.c.id == inbox.c.turn_id)
            .where(
                # The open rows, by the partial index: few, whatever the inbox's history.
                is_in(inbox.c.status, "pending", "processing"),
                inbox.c.status == "pending",
                turns.c.command == Command.STOP.value,
                conversations.c.platform.in_({k.channel for k in keys}),
                conversations.c.chat_id.in_({k.chat_id for k in keys}),
            )
        )
        rows = await self.db.read(lambda conn: conn.execute(query).all())
        return {wanted[tuple(r)] for r in rows if tuple(r) in wanted}

    async def delivered_outbox(self) -> list[dict[str, Any]]:
        """Delivered outbox rows with their payloads, oldest first (tests and demos)."""
        query = select(outbox).where(and_(outbox.c.status == "delivered")).order_by(outbox.c.id)
        return await self.db.read(lambda conn: [dict(r._mapping) for r in conn.execute(query)])


def _by_key(key: ConversationKey) -> Any:
    return select(conversations).where(
        conversations.c.platform == key.channel,
        conversations.c.chat_id == key.chat_id,
        conversations.c.thread_id == key.thread_id,
    )


def read_images(conn: Connection, hashes: set[str]) -> dict[str, ImagePart]:
    """Stored images by content hash."""
    if not hashes:
        return {}
    rows = conn.execute(select(images).where(images.c.sha256.in_(hashes)))
    return {r.sha256: ImagePart(bytes(r.data), r.mime, r.width, r.height, r.sha256) for r in rows}


def read_turn(conn: Connection, turn_id: int) -> Turn:
    """Rebuild a stored turn, images included.

    Raises:
        NotFoundError: no such turn.
    """
    found = read_turns(conn, [turn_id])
    if turn_id not in found:
        raise NotFoundError(f"turn {turn_id} not found")
    return found[turn_id]


_TURNS = (
    select(turns, conversations.c.platform, conversations.c.chat_id, conversations.c.thread_id)
    .join(conversations, conversations.c.id == turns.c.conversation_id)
    .where(turns.c.id.in_(bindparam("ids", expanding=True)))
)


def read_turns(conn: Connection, turn_ids: Sequence[int]) -> dict[int, Turn]:
    """Rebuild stored turns by id (ids that do not exist are left out)."""
    rows = conn.execute(_TURNS, {"ids": list(turn_ids)}).all() if turn_ids else []
    hashes = {p["sha256"] for row in rows for p in row.parts if p["type"] == "image"}
    stored_images = read_images(conn, hashes)
    return {
        row.id: Turn(
            key=ConversationKey.from_channel(row.platform, row.chat_id, row.thread_id),
            sender=Sender(row.sender_id, row.sender_name, Role(row.role)),
            message_id=row.platform_message_id or "",
            parts=codec.parts_from_json(row.parts, stored_images),
            timestamp=as_utc(row.sent_at) or utcnow(),
            reply_to=row.reply_to,
            command=command_of(row.command),
            command_arg=row.command_arg or "",
            problem=problem_of(row.problem),
            audience=Audience(row.audience) if row.audience else Audience.PRIVATE,
        )
        for row in rows
    }


def command_of(value: str | None) -> Command | None:
    """A stored command (None for a value this version does not know)."""
    return Command(value) if value and value in Command._value2member_map_ else None


def problem_of(value: str | None) -> ContentProblem | None:
    """A stored content problem (None for a value this version does not know)."""
    return ContentProblem(value) if value and value in ContentProblem._value2member_map_ else None


_CONVERSATIONS = select(conversations).where(
    conversations.c.id.in_(bindparam("ids", expanding=True))
)


def read_conversations(conn: Connection, ids: set[int]) -> dict[int, Conversation]:
    """Conversations by id."""
    rows: Any = conn.execute(_CONVERSATIONS, {"ids": list(ids)}) if ids else []
    return {
        r.id: Conversation(
            r.id,
            ConversationKey.from_channel(r.platform, r.chat_id, r.thread_id),
            ConversationState(r.state),
            r.failures,
            as_utc(r.memory_reset_at),
        )
        for r in rows
    }
