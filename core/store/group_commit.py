"""Group commit for the inbox: concurrent ``put`` calls share one transaction.

Under load, hundreds of webhook requests arrive at once. Writing each turn in its own
transaction caps the inbox at a few hundred turns a second (every commit is a disk
sync); batching the turns that arrive together keeps "durable before acknowledged" and
multiplies throughput. A batch that hits a unique-key race with another process falls
back to one transaction per turn, which resolves the race row by row.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import StoreError
from core.ports import IngestResult
from core.store.db import utcnow
from core.store.rows import ensure_conversation, ensure_images, turn_row
from core.store.schema import conversations, inbox, turns
from core.turn import ConversationKey, Turn


@dataclass(slots=True)
class _Pending:
    turn: Turn
    future: asyncio.Future[IngestResult]


class GroupCommitter:
    """Collects ``put`` calls and writes them in batches.

    Args:
        store: The store (for its engine and the one-by-one fallback).
        max_batch: Most turns per transaction.
    """

    def __init__(self, store: Any, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def put(self, turn: Turn) -> IngestResult:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="kefu-inbox-group-commit")
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(turn, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            results = await self._write_batch([p.turn for p in batch])
        except IntegrityError:
            results = None  # a concurrent writer won a race: resolve row by row
        except SQLAlchemyError as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(StoreError(f"could not store turn: {exc}"))
            return
        for index, pending in enumerate(batch):
            if pending.future.done():
                continue
            if results is not None:
                pending.future.set_result(results[index])
                continue
            try:
                pending.future.set_result(await self.store.put_one(pending.turn))
            except StoreError as exc:
                pending.future.set_exception(exc)
        self.store.notify_new_turns()

    async def _write_batch(self, batch: Sequence[Turn]) -> list[IngestResult]:
        keys = [(t.key.platform, t.message_id) for t in batch]
        async with self.store.engine.begin() as conn:
            existing = await _existing(conn, set(keys))
            owners: dict[tuple[str, str], int] = {}
            fresh = []
            for index, key in enumerate(keys):
                if key not in existing and key not in owners:
                    owners[key] = index
                    fresh.append(batch[index])
            conversation_ids = await self._conversations(conn, {t.key for t in fresh})
            turn_ids = await self._insert(conn, fresh, conversation_ids)
        new_ids = {
            (t.key.platform, t.message_id): tid for t, tid in zip(fresh, turn_ids, strict=True)
        }
        results = []
        for index, key in enumerate(keys):
            if key in existing:
                results.append(IngestResult(existing[key], duplicate=True))
            else:
                results.append(IngestResult(new_ids[key], duplicate=owners[key] != index))
        return results

    async def _conversations(
        self, conn: AsyncConnection, keys: set[ConversationKey]
    ) -> dict[ConversationKey, int]:
        now = utcnow()
        for key in keys:
            await ensure_conversation(conn, self.store.engine, key, now)
        if not keys:
            return {}
        condition = or_(
            *(
                and_(
                    conversations.c.platform == k.platform,
                    conversations.c.chat_id == k.chat_id,
                    conversations.c.thread_id == k.thread_id,
                )
                for k in keys
            )
        )
        rows = await conn.execute(
            select(
                conversations.c.id,
                conversations.c.platform,
                conversations.c.chat_id,
                conversations.c.thread_id,
            ).where(condition)
        )
        return {ConversationKey(r.platform, r.chat_id, r.thread_id): int(r.id) for r in rows}

    async def _insert(
        self,
        conn: AsyncConnection,
        fresh: Sequence[Turn],
        conversation_ids: dict[ConversationKey, int],
    ) -> list[int]:
        if not fresh:
            return []
        now = utcnow()
        await ensure_images(conn, self.store.engine, [i for t in fresh for i in t.images], now)
        rows = [turn_row(t, conversation_ids[t.key], now) for t in fresh]
        result = await conn.execute(
            turns.insert().returning(turns.c.id, sort_by_parameter_order=True), rows
        )
        turn_ids = [int(r[0]) for r in result.all()]
        await conn.execute(
            inbox.insert(),
            [
                {
                    "platform": t.key.platform,
                    "platform_message_id": t.message_id,
                    "conversation_id": conversation_ids[t.key],
                    "turn_id": turn_id,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
                for t, turn_id in zip(fresh, turn_ids, strict=True)
            ],
        )
        return turn_ids


async def _existing(
    conn: AsyncConnection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    rows = await conn.execute(
        select(inbox.c.platform, inbox.c.platform_message_id, inbox.c.turn_id).where(
            tuple_(inbox.c.platform, inbox.c.platform_message_id).in_(list(keys))
        )
    )
    return {(r.platform, r.platform_message_id): int(r.turn_id) for r in rows}
