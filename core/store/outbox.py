"""The dispatcher's view of the outbox: claims in order per conversation, and bookkeeping.

Deliveries that finish together are marked delivered in one transaction.

Every claim adds one to the row's fencing token (``lease_token``) and every later write of
the holder names the token it claimed with: a holder whose lease lapsed while it was alive
(starved, stalled) and whose row was taken over finds its renewals, records and "delivered"
mark refused, and :meth:`OutboxQueue.holds` lets it check, right before each platform send,
that the row is still its own for a while longer (``margin_s``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, tuple_, update

from core.model.turn import ConversationKey, Reply, ReplyKind
from core.store import codec
from core.store.batching import WriteBatcher
from core.store.db import as_utc, is_in, utcnow
from core.store.heads import open_heads
from core.store.schema import outbox
from core.store.store import Store


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    conversation_id: int
    turn_id: int | None
    seq: int
    final: bool
    platform: str  # the conversation key's channel: "telegram", "webhook:shopify"
    payload: dict[str, Any]
    stream_ref: str | None
    attempts: int
    platform_message_ids: list[str] | None = None  # parts recorded by an earlier attempt
    lease_token: int = 0  # this claim's fencing token (see the module docstring)
    # Taken over from a holder whose lease lapsed (killed, or stalled) in the middle of a
    # delivery: it may have sent a part whose record never committed. Not a column.
    taken_over: bool = False

    @property
    def adapter(self) -> str:
        """The adapter that delivers this row (the channel's platform)."""
        return _adapter(self.platform)


@dataclass(frozen=True, slots=True)
class _Delivered:
    row: OutboxRow
    platform_ids: tuple[str, ...]


class OutboxQueue:
    """Claims and bookkeeping for the outbox; delivery is in order per conversation.

    Args:
        store: The store.
        lease_s: How long a claimed row stays with this dispatcher without renewal.
        margin_s: A send starts only while the lease has at least this long left (default
            a third of the lease: a renewal every third of it keeps two thirds left).
    """

    def __init__(self, store: Store, lease_s: float = 120.0, margin_s: float | None = None) -> None:
        self.store = store
        self.lease = timedelta(seconds=lease_s)
        self.margin = timedelta(seconds=lease_s / 3 if margin_s is None else margin_s)
        self._delivered: WriteBatcher[_Delivered, bool] = WriteBatcher(
            store.db, _mark_delivered, "kefu-outbox-delivered"
        )

    async def claim(self, limit: int, platforms: Sequence[str] | None = None) -> list[OutboxRow]:
        """Claim up to ``limit`` due rows, only each conversation's oldest open ones.

        Candidates are found with a read, so an idle poll takes no write lock; the claiming
        update checks again that each row is still ready.
        """
        now = utcnow()

        def ready(row: Any) -> bool:
            if platforms is not None and _adapter(row.platform) not in platforms:
                return False  # another dispatcher's; it still holds its conversation's place
            if row.status == "pending":
                return bool(as_utc(row.next_attempt_at) <= now)  # type: ignore[operator]
            lease_until = as_utc(row.lease_until)
            return lease_until is not None and lease_until < now

        heads = await self.store.db.read(lambda conn: open_heads(conn, _OPEN, ready, limit))
        ids = [row.id for row in heads]
        if not ids:
            return []
        lapsed = {row.id for row in heads if row.status != "pending"}
        parameters = {"ids": ids, "now": now, "until": now + self.lease}
        rows = await self.store.db.write(
            lambda conn: conn.execute(_TAKE, parameters).all(), durable=False
        )
        taken = (OutboxRow(*row, taken_over=row.id in lapsed) for row in rows)  # type: ignore[misc]
        return sorted(taken, key=lambda r: r.id)

    async def claim_followers(self, head: OutboxRow, limit: int) -> list[OutboxRow]:
        """Claim the relays queued right behind ``head`` in its conversation (to merge them).

        Only an unbroken run of due, pending relay rows on the head's channel is taken, so
        nothing is delivered out of order.
        """
        now = utcnow()

        def work(conn: Connection) -> list[OutboxRow]:
            rows = conn.execute(_BEHIND, {"conversation": head.conversation_id,
                                          "after": head.id, "page": limit}).all()  # fmt: skip
            run: list[int] = []
            for row in rows:
                due = as_utc(row.next_attempt_at) <= now  # type: ignore[operator]
                relay = row.payload.get("kind") == ReplyKind.RELAY.value
                if row.status != "pending" or not due or row.platform != head.platform or not relay:
                    break
                run.append(row.id)
            if not run:
                return []
            taken = conn.execute(_TAKE, {"ids": run, "now": now, "until": now + self.lease})
            return sorted((OutboxRow(*r) for r in taken.all()), key=lambda r: r.id)

        return await self.store.db.write(work, durable=False)

    async def release(self, rows: Sequence[OutboxRow]) -> int:
        """Give claimed rows back untouched (no attempt counted): they are due again now.
        Rows taken over meanwhile are left to their new holder; returns how many went back."""
        statement = (
            update(outbox)
            .where(
                tuple_(outbox.c.id, outbox.c.lease_token).in_(
                    [(r.id, r.lease_token) for r in rows]
                ),
                outbox.c.status == "sending",
            )
            .values(status="pending", lease_until=None)
        )
        return int(
            await self.store.db.write(lambda conn: conn.execute(statement).rowcount, durable=False)
        )

    async def renew(self, row: OutboxRow) -> bool:
        """Extend the delivery lease while a (slow, rate-limited) delivery is under way;
        False when the row is no longer held with this claim's token (taken over)."""
        statement = update(outbox).where(*_held(row)).values(lease_until=utcnow() + self.lease)
        return await self._changed(statement, durable=False)

    async def holds(self, row: OutboxRow) -> bool:
        """Whether ``row`` is still this claim's, with at least ``margin_s`` of its lease left
        (one read by primary key). A send may start only when it is: another process takes
        a row over only after its lease ran out, so a send started inside the margin cannot
        meet the new holder's send of the same part."""
        parameters = {"row_id": row.id, "token": row.lease_token}
        until = await self.store.db.read(
            lambda conn: conn.execute(_LEASE_UNTIL, parameters).scalar_one_or_none()
        )
        # The clock is read after the answer came back: a slow read only shortens the lease.
        return until is not None and as_utc(until) > utcnow() + self.margin  # type: ignore[operator]

    async def reply_of(self, row: OutboxRow) -> Reply:
        hashes = {i["sha256"] for i in row.payload.get("images", [])}
        return codec.reply_from_json(row.payload, await self.store.load_images(hashes))

    async def delivered(self, row: OutboxRow, platform_ids: Sequence[str]) -> bool:
        """Mark ``row`` delivered (batched with the other deliveries that finish now); False
        when it was refused: the row was taken over under a newer token."""
        return await self._delivered.submit(_Delivered(row, tuple(platform_ids)))

    async def parts_sent(self, row: OutboxRow, platform_ids: Sequence[str]) -> bool:
        """Record the parts of ``row`` sent so far, at once and alone: each write that waits
        for others widens the window in which a kill makes the next attempt repeat a part.
        False when refused (taken over: the new holder's record is not overwritten)."""
        statement = (
            update(outbox).where(*_held(row)).values(platform_message_ids=list(platform_ids))
        )
        return await self._changed(statement)

    async def retry_later(
        self, row: OutboxRow, delay_s: float, error: str, count_attempt: bool = True
    ) -> bool:
        return await self._set(
            row,
            status="pending",
            next_attempt_at=utcnow() + timedelta(seconds=delay_s),
            attempts=row.attempts + (1 if count_attempt else 0),
            last_error=error[:2000],
            lease_until=None,
        )

    async def dead(self, row: OutboxRow, error: str) -> bool:
        return await self._set(
            row, status="dead", attempts=row.attempts + 1, last_error=error[:2000], lease_until=None
        )

    async def _set(self, row: OutboxRow, **values: Any) -> bool:
        """Update ``row`` while it is this claim's; False when it was taken over."""
        return await self._changed(update(outbox).where(*_held(row)).values(**values))

    async def _changed(self, statement: Any, durable: bool = True) -> bool:
        rowcount = await self.store.db.write(
            lambda conn: conn.execute(statement).rowcount, durable=durable
        )
        return bool(rowcount == 1)

    async def close(self) -> None:
        await self._delivered.close()

    async def undelivered_count(self) -> int:
        query = select(func.count()).where(is_in(outbox.c.status, "pending", "sending"))
        return int(await self.store.db.read(lambda conn: conn.execute(query).scalar_one()))

    async def next_due(self) -> datetime | None:
        query = (
            select(outbox.c.next_attempt_at)
            .where(outbox.c.status == "pending")
            .order_by(outbox.c.next_attempt_at)
            .limit(1)
        )
        return as_utc(
            await self.store.db.read(lambda conn: conn.execute(query).scalar_one_or_none())
        )


def _ready(now: Any) -> Any:
    return and_(
        is_in(outbox.c.status, "pending", "sending"),
        or_(
            and_(is_in(outbox.c.status, "pending"), outbox.c.next_attempt_at <= now),
            and_(is_in(outbox.c.status, "sending"), outbox.c.lease_until < now),
        ),
    )


def _held(row: OutboxRow) -> tuple[Any, ...]:
    """``row`` is being sent under the claim that produced this copy of it."""
    return (
        outbox.c.id == row.id,
        outbox.c.status == "sending",
        outbox.c.lease_token == row.lease_token,
    )


def _adapter(channel: str) -> str:
    return ConversationKey.from_channel(channel, "").platform


# Built once: reusing a statement object skips SQLAlchemy's construction and cache-key work.
_OPEN = (
    select(outbox.c.id, outbox.c.conversation_id, outbox.c.platform, outbox.c.status,
           outbox.c.next_attempt_at, outbox.c.lease_until)
    .where(is_in(outbox.c.status, "pending", "sending"), outbox.c.id > bindparam("after"))
    .order_by(outbox.c.id)
    .limit(bindparam("page"))
)  # fmt: skip
_BEHIND = (
    select(outbox.c.id, outbox.c.status, outbox.c.platform, outbox.c.payload,
           outbox.c.next_attempt_at)
    .where(outbox.c.conversation_id == bindparam("conversation"),
           outbox.c.id > bindparam("after"), is_in(outbox.c.status, "pending", "sending"))
    .order_by(outbox.c.id)
    .limit(bindparam("page"))
)  # fmt: skip
_TAKE = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)), _ready(bindparam("now")))
    .values(
        status="sending",
        lease_until=bindparam("until", type_=outbox.c.lease_until.type),
        lease_token=outbox.c.lease_token + 1,  # fences off the previous holder, if any
    )
    .returning(*(outbox.c[f.name] for f in fields(OutboxRow) if f.name != "taken_over"))
)
_LEASE_UNTIL = select(outbox.c.lease_until).where(
    outbox.c.id == bindparam("row_id"),
    outbox.c.status == "sending",
    outbox.c.lease_token == bindparam("token"),
)
_DELIVERED = (
    update(outbox)
    .where(
        outbox.c.id == bindparam("row_id"),
        outbox.c.status == "sending",
        outbox.c.lease_token == bindparam("token"),
    )
    .values(
        status="delivered",
        delivered_at=bindparam("at", type_=outbox.c.delivered_at.type),
        attempts=bindparam("attempt"),
        platform_message_ids=bindparam("ids", type_=outbox.c.platform_message_ids.type),
        lease_until=None,
        last_error=None,
    )
)

_MARKED = select(outbox.c.id).where(
    tuple_(outbox.c.id, outbox.c.lease_token).in_(bindparam("pairs", expanding=True)),
    outbox.c.status == "delivered",
)


def _mark_delivered(conn: Connection, batch: Sequence[_Delivered]) -> list[bool]:
    """Mark the batch delivered where each row still has its holder's token; which were.

    The marks are one executemany; asyncpg reports no row count for it, so the rows marked
    are read back in the same transaction: delivered under the holder's token can only be
    this mark (a delivered row is never claimed again).
    """
    now = utcnow()
    conn.execute(_DELIVERED, [
        {"row_id": d.row.id, "token": d.row.lease_token, "at": now, "attempt": d.row.attempts + 1,
         "ids": list(d.platform_ids)}
        for d in batch
    ])  # fmt: skip
    pairs = [(d.row.id, d.row.lease_token) for d in batch]
    marked = set(conn.execute(_MARKED, {"pairs": pairs}).scalars())
    return [d.row.id in marked for d in batch]
