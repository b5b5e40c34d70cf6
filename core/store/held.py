"""Turns stored at once but held while their adapter fetches the rest (``HeldTurnsPort``).

A platform that must be acknowledged quickly (Slack: 3 s) cannot always download a message's
files in time. Rather than answer without them, the adapter stores the turn with placeholder
notes and a list of ``pending`` references, and the inbox row is *held* with the existing
hold (``available_at``): the workers cannot claim it, and since only a conversation's oldest
open row may be claimed (:mod:`core.store.heads`), later turns of the conversation wait
behind it. The fetching process holds a lease on the row (``lease_owner`` / ``lease_until``,
which workers ignore on pending rows) and renews it; a lease that expires (the process was
killed) is taken over by another process, or by the same one after its restart. When the
parts are fetched (or given up as notes), :meth:`HeldTurns.resolve_held` replaces the turn's
parts and releases the hold in one transaction.

The hold itself is bounded (``hold_s``, past the adapter's own deadline, and one lease past
the latest lease): if no process ever resolves the row (the adapter was switched off), it
is answered with its placeholder notes rather than blocking its conversation for good.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, null, or_, select, update

from core.errors import StoreConflictError, StoreError
from core.model.turn import ImagePart, Part, Turn, parts_text
from core.ports import HeldTurn, IngestResult
from core.store import codec
from core.store.db import Database, as_utc, is_in, utcnow
from core.store.inbox_writes import INBOX_CHANNEL, write_turns
from core.store.rows import ensure_images
from core.store.schema import inbox, turns
from core.store.store import read_turns


class HeldTurns:
    """The store's :class:`core.ports.HeldTurnsPort`.

    Args:
        db: The database.
        released: Called after a hold is released (wakes this process's workers).
    """

    def __init__(self, db: Database, released: Callable[[], None]) -> None:
        self.db = db
        self._released = released

    async def put_held(
        self,
        turn: Turn,
        pending: Sequence[dict[str, Any]],
        owner: str,
        lease_s: float,
        hold_s: float,
    ) -> IngestResult:
        """Store ``turn`` held, with its ``pending`` references, leased to ``owner``.

        A duplicate (the message is already in the inbox) changes nothing.

        Raises:
            StoreError: the write failed; the platform must not be acknowledged.
        """
        now = utcnow()
        values = {
            "pending": list(pending), "available_at": now + timedelta(seconds=hold_s),
            "lease_owner": owner, "lease_until": now + timedelta(seconds=lease_s),
        }  # fmt: skip

        def work(conn: Connection) -> IngestResult:
            [result] = write_turns(conn, self.db.dialect, [turn])
            if not result.duplicate:
                conn.execute(update(inbox).where(inbox.c.turn_id == result.turn_id).values(values))
            return result

        try:
            return await self.db.write(work, urgent=True)
        except StoreConflictError:
            # A concurrent delivery of the same message (Slack's message and app_mention)
            # stored it first.
            query = select(inbox.c.turn_id).where(
                inbox.c.platform == turn.key.channel, inbox.c.platform_message_id == turn.message_id
            )
            found = await self.db.read(lambda conn: conn.execute(query).scalar_one_or_none())
            if found is None:
                raise StoreError("held inbox insert conflicted but no row exists") from None
            return IngestResult(int(found), duplicate=True)

    async def take_held(
        self, platform: str, owner: str, lease_s: float, limit: int
    ) -> list[HeldTurn]:
        """Lease up to ``limit`` held turns of ``platform`` that nobody fetches for (never
        leased, or the lease expired), oldest first, with their turns and references."""
        now = utcnow()

        def work(conn: Connection) -> list[HeldTurn]:
            free = or_(inbox.c.lease_owner.is_(None), inbox.c.lease_until < now)
            rows = conn.execute(
                select(inbox.c.id, inbox.c.turn_id, inbox.c.pending, inbox.c.created_at)
                .where(_held(), inbox.c.platform == platform, free)
                .order_by(inbox.c.id)
                .limit(limit)
            ).all()
            taken = [
                row
                for row in rows
                if conn.execute(
                    update(inbox)
                    .where(inbox.c.id == row.id, _held(), free)
                    .values(_leased(owner, now, lease_s))
                ).rowcount
                == 1
            ]
            stored = read_turns(conn, [row.turn_id for row in taken])
            return [
                HeldTurn(
                    int(row.turn_id),
                    stored[row.turn_id],
                    tuple(row.pending),
                    as_utc(row.created_at) or now,
                )
                for row in taken
                if row.turn_id in stored
            ]

        return await self.db.write(work)

    async def renew_held(self, turn_ids: Sequence[int], owner: str, lease_s: float) -> set[int]:
        """Extend ``owner``'s leases; returns the turn ids still held and leased to it."""
        if not turn_ids:
            return set()
        statement = (
            update(inbox)
            .where(inbox.c.turn_id.in_(list(turn_ids)), _held(), inbox.c.lease_owner == owner)
            .values(_leased(owner, utcnow(), lease_s))
            .returning(inbox.c.turn_id)
        )
        renewed = await self.db.write(lambda conn: list(conn.execute(statement).scalars()))
        return {int(turn_id) for turn_id in renewed}

    async def resolve_held(self, turn_id: int, owner: str, parts: tuple[Part, ...]) -> bool:
        """Replace the held turn's parts by ``parts`` and release the hold, atomically.

        Returns:
            False (nothing written) when the row is no longer held under ``owner``'s lease:
            another process took it over, or the hold expired and a worker claimed it.
        """
        now = utcnow()

        def work(conn: Connection) -> bool:
            released = conn.execute(
                update(inbox)
                .where(inbox.c.turn_id == turn_id, _held(), inbox.c.lease_owner == owner)
                # null(): SQL NULL, not the JSON document "null" (which IS NOT NULL).
                .values(pending=null(), available_at=None, lease_owner=None, lease_until=None)
            ).rowcount
            if released != 1:
                return False
            images = [part for part in parts if isinstance(part, ImagePart)]
            ensure_images(conn, self.db.dialect, images, now)
            conn.execute(
                update(turns)
                .where(turns.c.id == turn_id)
                .values(parts=codec.parts_to_json(parts), text=parts_text(parts))
            )
            if self.db.dialect == "postgresql":
                conn.exec_driver_sql(f"NOTIFY {INBOX_CHANNEL}")  # wake the other workers
            return True

        resolved = bool(await self.db.write(work))
        if resolved:
            self._released()
        return resolved

    async def held_count(self, platform: str) -> int:
        """Turns of ``platform`` held for pending parts now."""
        query = select(inbox.c.id).where(_held(), inbox.c.platform == platform)
        return len(await self.db.read(lambda conn: conn.execute(query).all()))


def _leased(owner: str, now: datetime, lease_s: float) -> dict[str, Any]:
    """A lease to ``owner``; the hold lasts at least one lease longer than the lease, so a
    process that takes over after a kill comes before the workers."""
    until = now + timedelta(seconds=lease_s)
    held_until = until + timedelta(seconds=lease_s)
    return {
        "lease_owner": owner,
        "lease_until": until,
        "available_at": case(
            (inbox.c.available_at < held_until, held_until), else_=inbox.c.available_at
        ),
    }


def _held() -> Any:
    # Pending and not claimed by a worker; the status literal keeps the partial index usable.
    return and_(is_in(inbox.c.status, "pending"), inbox.c.pending.is_not(None))
