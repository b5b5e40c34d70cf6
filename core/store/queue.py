"""Claiming inbox work, completing it atomically, and the outbox's delivery bookkeeping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from core.store import codec
from core.store.db import as_utc, utcnow
from core.store.schema import conversations, decisions, handoffs, inbox, outbox
from core.store.store import Store
from core.turn import ConversationKey, Reply, Turn


@dataclass(frozen=True, slots=True)
class Claim:
    """An inbox item this worker holds a lease on."""

    inbox_id: int
    turn_id: int
    conversation_id: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Decision:
    """One entry of the decision log."""

    kind: str
    confidence: float | None = None
    components: tuple[dict[str, Any], ...] = ()
    reasons: tuple[str, ...] = ()
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """Everything an answered turn writes, in one transaction.

    Attributes:
        replies: Outbound replies, in order; the last is marked final.
        stream_refs: Draft message id for a reply index that was streamed.
        bot_turns: Turns to remember in history (the bot's answers).
        decision: The decision-log entry.
        new_state: Conversation state after this turn (``"handoff"`` / ``"bot"``), if changed.
        failure_delta: +1 after a failed/low-confidence answer, 0 keeps, -1 resets the counter.
        handoff_reason: Opens a handoff row when set.
    """

    replies: tuple[Reply, ...]
    decision: Decision
    stream_refs: dict[int, str] = field(default_factory=dict)
    bot_turns: tuple[Turn, ...] = ()
    new_state: str | None = None
    failure_delta: int = 0
    handoff_reason: str | None = None


class LeaseLost(Exception):
    """Another worker took over this inbox item (our lease expired); drop our answer."""


class InboxQueue:
    """The worker's view of the inbox.

    Args:
        store: The store.
        owner: Unique worker id, written into leases.
        lease_s: How long a claim is valid without renewal.
    """

    def __init__(self, store: Store, owner: str, lease_s: float = 60.0) -> None:
        self.store = store
        self.owner = owner
        self.lease = timedelta(seconds=lease_s)

    def _claimable(self, now: datetime) -> Any:
        # The literal IN term lets SQLite and PostgreSQL use the partial "open" indexes.
        return and_(
            inbox.c.status.in_(("pending", "processing")),
            or_(
                inbox.c.status == "pending",
                and_(inbox.c.status == "processing", inbox.c.lease_until < now),
            ),
        )

    async def claim(self, limit: int) -> list[Claim]:
        """Claim up to ``limit`` items: only the oldest unfinished item of each conversation."""
        now = utcnow()
        older = aliased(inbox)
        blocked = exists().where(
            older.c.conversation_id == inbox.c.conversation_id,
            older.c.id < inbox.c.id,
            older.c.status.in_(("pending", "processing")),
        )
        query = (
            select(inbox.c.id, inbox.c.turn_id, inbox.c.conversation_id, inbox.c.attempts)
            .where(self._claimable(now), ~blocked)
            .order_by(inbox.c.id)
            .limit(limit)
        )
        claims: list[Claim] = []
        async with self.store.engine.begin() as conn:
            candidates = (await conn.execute(query)).all()
            for row in candidates:
                result = await conn.execute(
                    update(inbox)
                    .where(inbox.c.id == row.id, self._claimable(now))
                    .values(
                        status="processing",
                        lease_owner=self.owner,
                        lease_until=now + self.lease,
                        attempts=inbox.c.attempts + 1,
                    )
                )
                if result.rowcount == 1:
                    claims.append(Claim(row.id, row.turn_id, row.conversation_id, row.attempts + 1))
        return claims

    def _owned(self, claim: Claim) -> Any:
        """The item is still in progress under this worker's lease."""
        return and_(
            inbox.c.id == claim.inbox_id,
            inbox.c.lease_owner == self.owner,
            inbox.c.status == "processing",
        )

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease; False when it was lost."""
        async with self.store.engine.begin() as conn:
            result = await conn.execute(
                update(inbox).where(self._owned(claim)).values(lease_until=utcnow() + self.lease)
            )
        return result.rowcount == 1

    async def complete(
        self, claim: Claim, key: ConversationKey, completion: Completion
    ) -> list[int]:
        """Write the answer and finish the inbox item atomically; returns the outbox ids.

        Raises:
            LeaseLost: another worker owns the item now; nothing was written.
        """
        now = utcnow()
        async with self.store.engine.begin() as conn:
            done = await conn.execute(
                update(inbox)
                .where(self._owned(claim))
                .values(status="done", done_at=now, lease_until=None, error=None)
            )
            if done.rowcount != 1:
                raise LeaseLost(f"inbox item {claim.inbox_id} is no longer ours")
            for bot_turn in completion.bot_turns:
                await self.store._insert_turn(conn, claim.conversation_id, bot_turn)
            outbox_ids = await _insert_replies(conn, claim, key, completion, now)
            await _insert_decision(
                conn, claim.conversation_id, claim.turn_id, completion.decision, now
            )
            await _update_conversation(conn, claim.conversation_id, completion, now)
        return outbox_ids

    async def pending_count(self) -> int:
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(inbox.c.id).where(inbox.c.status.in_(("pending", "processing")))
            )
            return len(rows.all())


async def _insert_replies(
    conn: Any, claim: Claim, key: ConversationKey, completion: Completion, now: datetime
) -> list[int]:
    ids: list[int] = []
    total = len(completion.replies)
    for index, reply in enumerate(completion.replies):
        result = await conn.execute(
            outbox.insert().values(
                conversation_id=claim.conversation_id,
                turn_id=claim.turn_id,
                seq=index + 1,
                final=index == total - 1,
                platform=reply.key.platform,
                payload=codec.reply_to_json(reply),
                stream_ref=completion.stream_refs.get(index),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        ids.append(int(result.inserted_primary_key[0]))
    return ids


async def _insert_decision(
    conn: Any, conversation_id: int, turn_id: int | None, decision: Decision, now: datetime
) -> None:
    await conn.execute(
        decisions.insert().values(
            conversation_id=conversation_id,
            turn_id=turn_id,
            kind=decision.kind,
            confidence=decision.confidence,
            components=list(decision.components),
            reasons=list(decision.reasons),
            model=decision.model,
            created_at=now,
        )
    )


async def _update_conversation(
    conn: Any, conversation_id: int, completion: Completion, now: datetime
) -> None:
    values: dict[str, Any] = {"updated_at": now}
    if completion.new_state:
        values["state"] = completion.new_state
    if completion.failure_delta > 0:
        values["failures"] = conversations.c.failures + completion.failure_delta
    elif completion.failure_delta < 0:
        values["failures"] = 0
    await conn.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(**values)
    )
    if completion.handoff_reason:
        await conn.execute(
            handoffs.insert().values(
                conversation_id=conversation_id,
                status="open",
                reason=completion.handoff_reason,
                target="slack",
                created_at=now,
                updated_at=now,
            )
        )


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    conversation_id: int
    turn_id: int | None
    seq: int
    final: bool
    platform: str
    payload: dict[str, Any]
    stream_ref: str | None
    attempts: int


class OutboxQueue:
    """The dispatcher's view of the outbox; delivery is in order per conversation."""

    def __init__(self, store: Store, lease_s: float = 120.0) -> None:
        self.store = store
        self.lease = timedelta(seconds=lease_s)

    async def claim(self, limit: int, platforms: Sequence[str] | None = None) -> list[OutboxRow]:
        now = utcnow()
        older = aliased(outbox)
        blocked = exists().where(
            older.c.conversation_id == outbox.c.conversation_id,
            older.c.id < outbox.c.id,
            older.c.status.in_(("pending", "sending")),
        )
        ready = and_(
            outbox.c.status.in_(("pending", "sending")),
            or_(
                and_(outbox.c.status == "pending", outbox.c.next_attempt_at <= now),
                and_(outbox.c.status == "sending", outbox.c.lease_until < now),
            ),
        )
        query = select(outbox).where(ready, ~blocked).order_by(outbox.c.id).limit(limit)
        claimed: list[OutboxRow] = []
        async with self.store.engine.begin() as conn:
            for row in (await conn.execute(query)).all():
                if platforms is not None and row.platform.split(":")[0] not in platforms:
                    continue
                result = await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row.id, ready)
                    .values(status="sending", lease_until=now + self.lease)
                )
                if result.rowcount == 1:
                    claimed.append(
                        OutboxRow(
                            row.id,
                            row.conversation_id,
                            row.turn_id,
                            row.seq,
                            row.final,
                            row.platform,
                            row.payload,
                            row.stream_ref,
                            row.attempts,
                        )
                    )
        return claimed

    async def renew(self, row: OutboxRow) -> None:
        """Extend the delivery lease while a (slow, rate-limited) delivery is under way."""
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id, outbox.c.status == "sending")
                .values(lease_until=utcnow() + self.lease)
            )

    async def reply_of(self, row: OutboxRow) -> Reply:
        hashes = {i["sha256"] for i in row.payload.get("images", [])}
        return codec.reply_from_json(row.payload, await self.store.load_images(hashes))

    async def delivered(self, row: OutboxRow, platform_ids: Sequence[str]) -> None:
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .values(
                    status="delivered",
                    delivered_at=utcnow(),
                    attempts=row.attempts + 1,
                    platform_message_ids=list(platform_ids),
                    lease_until=None,
                    last_error=None,
                )
            )

    async def retry_later(
        self, row: OutboxRow, delay_s: float, error: str, count_attempt: bool = True
    ) -> None:
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .values(
                    status="pending",
                    next_attempt_at=utcnow() + timedelta(seconds=delay_s),
                    attempts=row.attempts + (1 if count_attempt else 0),
                    last_error=error[:2000],
                    lease_until=None,
                )
            )

    async def dead(self, row: OutboxRow, error: str) -> None:
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .values(
                    status="dead",
                    attempts=row.attempts + 1,
                    last_error=error[:2000],
                    lease_until=None,
                )
            )

    async def undelivered_count(self) -> int:
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.id).where(outbox.c.status.in_(("pending", "sending")))
            )
            return len(rows.all())

    async def next_due(self) -> datetime | None:
        async with self.store.engine.connect() as conn:
            row = await conn.execute(
                select(outbox.c.next_attempt_at)
                .where(outbox.c.status == "pending")
                .order_by(outbox.c.next_attempt_at)
                .limit(1)
            )
            return as_utc(row.scalar_one_or_none())
