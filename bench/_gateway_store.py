"""The gateway benchmark's store checks: drain kefu, then count what the store holds."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from core.store.db import Database
from core.store.schema import inbox, outbox


@dataclass(frozen=True, slots=True)
class StoreVerdict:
    """The store after the run, against the webhook ids that got a 202."""

    accepted: int
    inbox_rows: int
    duplicate_rows: int
    missing: int
    unexpected: int
    answered: int
    turns_with_one_delivered_reply: int

    def ok(self, answers_expected: bool) -> bool:
        exact = self.inbox_rows == self.accepted
        if answers_expected:
            exact = exact and self.answered == self.turns_with_one_delivered_reply == self.accepted
        return exact and not (self.duplicate_rows or self.missing or self.unexpected)


def _open_counts(conn: Connection) -> tuple[int, int]:
    """Turns not yet answered, replies not yet delivered."""
    turns = conn.execute(select(func.count()).where(
        inbox.c.status.in_(("pending", "processing")))).scalar_one()  # fmt: skip
    replies = conn.execute(select(func.count()).where(
        outbox.c.status.in_(("pending", "sending")))).scalar_one()  # fmt: skip
    return int(turns), int(replies)


async def drain(url: str, timeout_s: float = 120) -> tuple[float, int]:
    """Wait until every turn is answered and every reply delivered.

    Returns:
        Seconds it took, and how many turns were unanswered at the start.
    """
    db = Database(url)
    started = time.monotonic()
    try:
        backlog, _ = await db.read(_open_counts)
        while any(await db.read(_open_counts)) and time.monotonic() - started < timeout_s:
            await asyncio.sleep(0.1)
    finally:
        await db.dispose()
    return time.monotonic() - started, backlog


def _inbox_and_replies(conn: Connection) -> tuple[list[str], int, list[Any]]:
    ids = [r[0] for r in conn.execute(select(inbox.c.platform_message_id))]
    answered = conn.execute(select(func.count()).where(inbox.c.status == "done")).scalar_one()
    replies = conn.execute(
        select(outbox.c.turn_id, func.count(), func.min(outbox.c.status))
        .group_by(outbox.c.turn_id)).all()  # fmt: skip
    return ids, int(answered), list(replies)


async def verify_store(url: str, accepted_ids: set[str]) -> StoreVerdict:
    """Count inbox rows per webhook id, answered turns, and delivered replies per turn."""
    db = Database(url)
    try:
        ids, answered, replies = await db.read(_inbox_and_replies)
    finally:
        await db.dispose()
    stored = set(ids)
    return StoreVerdict(len(accepted_ids), len(ids), len(ids) - len(stored),
                        len(accepted_ids - stored), len(stored - accepted_ids), answered,
                        sum(1 for _, n, status in replies if n == 1 and status == "delivered"))  # fmt: skip
