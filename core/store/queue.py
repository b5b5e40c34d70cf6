"""Claiming inbox work and completing it atomically (the outbox side is :mod:`core.store.outbox`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from core.model.decision import Completion, Conversation
from core.model.turn import ConversationKey, HistoryItem, Turn
from core.store.batching import WriteBatcher
from core.store.completions import (
    Finished,
    insert_decisions,
    insert_replies,
    update_conversations,
)
from core.store.db import as_utc, is_in, utcnow
from core.store.heads import open_heads
from core.store.history import read_histories
from core.store.rows import insert_turns
from core.store.schema import inbox
from core.store.store import Store, read_conversations, read_turns


@dataclass(frozen=True, slots=True)
class Claim:
    """An inbox item this worker holds a lease on, with its turn and conversation."""

    inbox_id: int
    turn_id: int
    conversation_id: int
    attempts: int
    turn: Turn
    conversation: Conversation
    history: tuple[HistoryItem, ...] | None = None
    joined: tuple[Turn, ...] = ()  # earlier turns to answer together with this one, in order
    joined_ids: tuple[int, ...] = ()
    held_since: datetime | None = None  # when the engine first failed this turn


class LeaseLost(Exception):
    """Another worker took over this inbox item (our lease expired); drop our answer."""


class InboxQueue:
    """The worker's view of the inbox.

    Answers that finish together are committed together (:class:`WriteBatcher`).

    Args:
        store: The store.
        owner: Unique worker id, written into leases.
        lease_s: How long a claim is valid without renewal.
        history_rounds: When above 0, each claim also carries this many rounds of its
            conversation's history, read in the claiming transaction.
    """

    def __init__(
        self, store: Store, owner: str, lease_s: float = 60.0, history_rounds: int = 0
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease = timedelta(seconds=lease_s)
        self.history_rounds = history_rounds
        self._completions: WriteBatcher[Finished, list[int]] = WriteBatcher(
            store.db, self._write_completions, "kefu-inbox-completions"
        )

    async def claim(self, limit: int) -> list[Claim]:
        """Claim up to ``limit`` items: only the oldest unfinished item of each conversation.

        Each claim carries its turn and conversation, read in the claiming transaction.
        Candidates are found with a read, so an idle poll takes no write lock; the claiming
        update checks again that each item is still claimable.
        """
        now = utcnow()

        def ready(row: Any) -> bool:
            if row.status == "pending":
                available_at = as_utc(row.available_at)
                return available_at is None or available_at <= now
            lease_until = as_utc(row.lease_until)
            return lease_until is not None and lease_until < now

        heads = await self.store.db.read(lambda conn: open_heads(conn, _OPEN, ready, limit))
        candidates = [row.id for row in heads]
        if not candidates:
            return []
        return await self.store.db.write(
            lambda conn: self._take(conn, list(candidates), now), durable=False
        )

    def _take(self, conn: Connection, candidates: list[int], now: datetime) -> list[Claim]:
        parameters = {"ids": candidates, "now": now, "owner": self.owner, "until": now + self.lease}
        claimed = conn.execute(_TAKE, parameters).all()
        joined = {r.id: tuple(int(i) for i in r.joined or ()) for r in claimed}
        wanted = [r.turn_id for r in claimed] + [i for ids in joined.values() for i in ids]
        turns = read_turns(conn, wanted)
        states = read_conversations(conn, {r.conversation_id for r in claimed})
        claimed = sorted(claimed, key=lambda r: r.id)
        histories = self._histories(conn, claimed, joined)
        return [
            Claim(
                row.id,
                row.turn_id,
                row.conversation_id,
                row.attempts,
                turns[row.turn_id],
                states[row.conversation_id],
                history,
                tuple(turns[i] for i in joined[row.id] if i in turns),
                joined[row.id],
                as_utc(row.held_since),
            )
            for row, history in zip(claimed, histories, strict=True)
        ]

    def _histories(
        self, conn: Connection, claimed: Sequence[Any], joined: dict[int, tuple[int, ...]]
    ) -> list[tuple[HistoryItem, ...] | None]:
        if not self.history_rounds:
            return [None] * len(claimed)
        # Turns answered together with this one are part of it, not of its history.
        heads = [(row.conversation_id, min((row.turn_id, *joined[row.id]))) for row in claimed]
        return [tuple(h) for h in read_histories(conn, heads, self.history_rounds)]

    def _owned(self, claim: Claim) -> Any:
        """The item is still in progress under this worker's lease."""
        return and_(
            inbox.c.id == claim.inbox_id,
            inbox.c.lease_owner == self.owner,
            inbox.c.status == "processing",
        )

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease; False when it was lost."""
        statement = (
            update(inbox).where(self._owned(claim)).values(lease_until=utcnow() + self.lease)
        )
        renewed = await self.store.db.write(
            lambda conn: conn.execute(statement).rowcount == 1, durable=False
        )
        return bool(renewed)

    async def complete(
        self, claim: Claim, key: ConversationKey, completion: Completion
    ) -> list[int]:
        """Write the answer and finish the inbox item atomically; returns the outbox ids.

        Raises:
            LeaseLost: another worker owns the item now; nothing was written.
            StoreError: the transaction failed; nothing was written.
        """
        return await self._completions.submit(Finished(claim, key, completion))

    async def close(self) -> None:
        await self._completions.close()

    def _write_completions(
        self, conn: Connection, batch: Sequence[Finished]
    ) -> list[list[int] | Exception]:
        now = utcnow()
        ids = [f.claim.inbox_id for f in batch]
        done = set(conn.execute(_DONE, {"ids": ids, "owner": self.owner, "at": now}).scalars())
        kept, first = [], {}  # a second answer to the same item in one batch loses its lease
        for finished in batch:
            if finished.claim.inbox_id in done and finished.claim.inbox_id not in first:
                first[finished.claim.inbox_id] = finished
                kept.append(finished)
        bot_turns = [(f.claim.conversation_id, t) for f in kept for t in f.completion.bot_turns]
        insert_turns(conn, self.store.db.dialect, bot_turns, now)
        outbox_ids = insert_replies(conn, self.store.db.dialect, kept, now)
        insert_decisions(conn, self.store.db.dialect, kept, now)
        update_conversations(conn, kept, now)
        return [
            outbox_ids.get(f.claim.inbox_id, [])
            if first.get(f.claim.inbox_id) is f
            else LeaseLost(f"inbox item {f.claim.inbox_id} is no longer ours")
            for f in batch
        ]

    async def hold(
        self,
        claim: Claim,
        delay_s: float,
        completion: Completion | None = None,
        *,
        engine_down: bool = False,
        counted: bool = False,
    ) -> bool:
        """Give the turn back, claimable again after ``delay_s``.

        ``completion`` (a notice to the customer, its decision) is written in the same
        transaction. ``engine_down`` dates the outage (``held_since``) the first time. A
        hold is not an attempt unless ``counted`` (a retry after an unexpected failure).

        Returns:
            False when the lease was lost (nothing written).
        """
        now = utcnow()
        values: dict[str, Any] = {
            "status": "pending", "lease_owner": None, "lease_until": None,
            "available_at": now + timedelta(seconds=delay_s),
            "attempts": inbox.c.attempts - (0 if counted else 1),
        }  # fmt: skip
        if engine_down:
            values["held_since"] = func.coalesce(inbox.c.held_since, now)

        def work(conn: Connection) -> bool:
            if conn.execute(update(inbox).where(self._owned(claim)).values(**values)).rowcount != 1:
                return False
            self._side_effects(conn, claim, completion, now)
            return True

        return bool(await self.store.db.write(work))

    async def coalesce(self, claim: Claim, completion: Completion) -> bool:
        """Finish the turn unanswered and join it to the next waiting turn of its conversation,
        which is then answered for both.

        Returns:
            False when no later turn waits (nothing written): hold this one instead.

        Raises:
            LeaseLost: another worker owns the item now.
        """
        now = utcnow()

        def work(conn: Connection) -> bool:
            later = conn.execute(_NEXT_OPEN, {"conversation": claim.conversation_id,
                                              "after": claim.inbox_id}).one_or_none()  # fmt: skip
            if later is None:
                return False
            if conn.execute(_DONE, {"ids": [claim.inbox_id], "owner": self.owner,
                                    "at": now}).all() == []:  # fmt: skip
                raise LeaseLost(f"inbox item {claim.inbox_id} is no longer ours")
            joined = [*(later.joined or ()), *claim.joined_ids, claim.turn_id]
            conn.execute(update(inbox).where(inbox.c.id == later.id).values(joined=joined))
            self._side_effects(conn, claim, completion, now)
            return True

        return bool(await self.store.db.write(work))

    async def dead_letter(self, claim: Claim, error: str, completion: Completion) -> None:
        """Give up on a turn (it failed ``attempts`` times): status ``failed``, kept for
        ``main.py deadletters``; ``completion`` (the customer's apology) is written with it.
        Later turns of the conversation are claimable at once.
        """
        now = utcnow()
        statement = (
            update(inbox)
            .where(inbox.c.id == claim.inbox_id, is_in(inbox.c.status, "pending", "processing"))
            .values(status="failed", error=error[:2000], done_at=now, lease_owner=None,
                    lease_until=None)
        )  # fmt: skip

        def work(conn: Connection) -> None:
            if conn.execute(statement).rowcount == 1:
                self._side_effects(conn, claim, completion, now)

        await self.store.db.write(work)

    def _side_effects(
        self, conn: Connection, claim: Claim, completion: Completion | None, now: datetime
    ) -> None:
        if completion is None:
            return
        finished = [Finished(claim, claim.turn.key, completion)]
        insert_turns(conn, self.store.db.dialect,
                     [(claim.conversation_id, t) for t in completion.bot_turns], now)  # fmt: skip
        insert_replies(conn, self.store.db.dialect, finished, now)
        insert_decisions(conn, self.store.db.dialect, finished, now)
        update_conversations(conn, finished, now)

    async def pending_count(self) -> int:
        query = select(func.count()).where(is_in(inbox.c.status, "pending", "processing"))
        return int(await self.store.db.read(lambda conn: conn.execute(query).scalar_one()))


def _claimable(now: Any) -> Any:
    # Statuses are literals in the SQL (not parameters), so that SQLite and PostgreSQL's
    # prepared plans can use the partial "open" indexes.
    return and_(
        is_in(inbox.c.status, "pending", "processing"),
        or_(
            and_(
                is_in(inbox.c.status, "pending"),
                or_(inbox.c.available_at.is_(None), inbox.c.available_at <= now),
            ),
            and_(is_in(inbox.c.status, "processing"), inbox.c.lease_until < now),
        ),
    )


# Built once: a statement object reused with new parameters skips SQLAlchemy's per-call
# construction and cache-key work, which is most of the CPU a small query costs.
_OPEN = (
    select(
        inbox.c.id,
        inbox.c.conversation_id,
        inbox.c.status,
        inbox.c.lease_until,
        inbox.c.available_at,
    )
    .where(is_in(inbox.c.status, "pending", "processing"), inbox.c.id > bindparam("after"))
    .order_by(inbox.c.id)
    .limit(bindparam("page"))
)
_DONE = (
    update(inbox)
    .where(
        inbox.c.id.in_(bindparam("ids", expanding=True)),
        inbox.c.lease_owner == bindparam("owner"),
        inbox.c.status == "processing",
    )
    .values(status="done", done_at=bindparam("at", type_=inbox.c.done_at.type),
            lease_until=None, error=None)
    .returning(inbox.c.id)
)  # fmt: skip
_TAKE = (
    update(inbox)
    .where(inbox.c.id.in_(bindparam("ids", expanding=True)), _claimable(bindparam("now")))
    .values(
        status="processing",
        lease_owner=bindparam("owner"),
        lease_until=bindparam("until", type_=inbox.c.lease_until.type),
        attempts=inbox.c.attempts + 1,
    )
    .returning(
        inbox.c.id,
        inbox.c.turn_id,
        inbox.c.conversation_id,
        inbox.c.attempts,
        inbox.c.joined,
        inbox.c.held_since,
    )
)
_NEXT_OPEN = (
    select(inbox.c.id, inbox.c.joined)
    .where(
        inbox.c.conversation_id == bindparam("conversation"),
        inbox.c.id > bindparam("after"),
        is_in(inbox.c.status, "pending", "processing"),
    )
    .order_by(inbox.c.id)
    .limit(1)
)
