"""The album journal of a process that shares no state: a SQLite file of its own.

It keeps the contract of :class:`adapters.telegram.journal.AlbumItems` (see
:mod:`adapters.telegram.journal` for why album items are journaled at all) for a process
without the store's shared state: only this process writes the file, so its claims live in
memory and an album is as quiet as this process's debounce says.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiosqlite

from adapters.telegram.journal import MERGED_KEPT_DAYS, AlbumKey
from core.errors import StoreError
from core.ports import GroupItems

_SCHEMA = """
CREATE TABLE IF NOT EXISTS album_items (
    chat_id TEXT NOT NULL,
    media_group_id TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (chat_id, media_group_id, update_id)
);
CREATE TABLE IF NOT EXISTS album_merged (
    chat_id TEXT NOT NULL,
    media_group_id TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    merged_at REAL NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    PRIMARY KEY (chat_id, media_group_id, update_id)
);
"""
# Items not yet in a stored turn (a redelivery of a merged one is not).
_UNMERGED = (
    "FROM album_items i WHERE NOT EXISTS (SELECT 1 FROM album_merged m WHERE "
    "m.chat_id = i.chat_id AND m.media_group_id = i.media_group_id "
    "AND m.update_id = i.update_id)"
)


class AlbumJournal:
    """Album update payloads, committed before their webhook request is acknowledged.

    Args:
        path: SQLite file (its folder is created).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        # Only this process writes the file, so claims live (and die) with it.
        self._claimed: dict[AlbumKey, set[int]] = defaultdict(set)

    async def claim(self, album: AlbumKey, update_ids: tuple[int, ...]) -> tuple[int, ...]:
        """Mark items as being merged (:meth:`items` leaves them out until done or
        released); returns those this call claimed (not already claimed)."""
        won = tuple(u for u in update_ids if u not in self._claimed[album])
        self._claimed[album].update(won)
        return won

    async def release(self, album: AlbumKey, update_ids: tuple[int, ...]) -> None:
        """Give claimed items back (their merge failed)."""
        self._claimed[album].difference_update(update_ids)
        if not self._claimed[album]:
            del self._claimed[album]

    async def renew(self, album: AlbumKey, update_ids: tuple[int, ...]) -> tuple[int, ...]:
        """Claims in this process's memory never lapse: those still held, unchanged."""
        return tuple(u for u in update_ids if u in self._claimed.get(album, ()))

    async def merging(self, album: AlbumKey) -> bool:
        """Whether items of ``album`` are being merged now."""
        return bool(self._claimed.get(album))

    async def forget_merged(self) -> int:
        """Forget merged items older than Telegram redelivers an update; how many.

        Raises:
            StoreError: the delete failed.
        """
        async with self._lock:
            try:
                cursor = await self._conn().execute(
                    "DELETE FROM album_merged "
                    "WHERE merged_at < CAST(strftime('%s', 'now') AS INTEGER) - ?",
                    (MERGED_KEPT_DAYS * 86400,),
                )
                await self._conn().commit()
            except aiosqlite.Error as exc:
                raise StoreError(f"telegram album journal prune failed: {exc}") from exc
        return cursor.rowcount

    async def open(self) -> None:
        """Open (and create) the journal.

        Raises:
            StoreError: the file cannot be opened or created.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._db.executescript(_SCHEMA)
            await self._db.commit()
        except (OSError, aiosqlite.Error) as exc:
            raise StoreError(f"telegram album journal {self.path}: {exc}") from exc

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("telegram album journal is not open")
        return self._db

    async def add(self, album: AlbumKey, update_id: int, payload: dict[str, Any]) -> None:
        """Keep one album item; returns once it is committed. A repeated item is kept once.

        Raises:
            StoreError: the write failed (the webhook must not be acknowledged).
        """
        async with self._lock:
            try:
                await self._conn().execute(
                    "INSERT OR IGNORE INTO album_items VALUES (?, ?, ?, ?)",
                    (album[0], album[1], update_id, json.dumps(payload)),
                )
                await self._conn().commit()
            except aiosqlite.Error as exc:
                raise StoreError(f"telegram album journal write failed: {exc}") from exc

    async def done(self, album: AlbumKey, update_ids: tuple[int, ...]) -> None:
        """Forget the items ``update_ids`` of ``album``, now in a stored turn, and remember
        them as merged (one transaction); items added since they were read stay.

        Raises:
            StoreError: the write failed (the items are merged again later; the inbox dedupes).
        """
        rows = [(album[0], album[1], update_id) for update_id in update_ids]
        async with self._lock:
            try:
                await self._conn().executemany(
                    "INSERT OR IGNORE INTO album_merged (chat_id, media_group_id, update_id) "
                    "VALUES (?, ?, ?)",
                    rows,
                )
                await self._conn().executemany(
                    "DELETE FROM album_items "
                    "WHERE chat_id = ? AND media_group_id = ? AND update_id = ?",
                    rows,
                )
                await self._conn().commit()
            except aiosqlite.Error as exc:
                raise StoreError(f"telegram album journal delete failed: {exc}") from exc
        await self.release(album, update_ids)

    async def items(self, album: AlbumKey) -> GroupItems:
        """The album's items not yet stored (JSON), in update order; only this process
        writes them, so the album is as quiet as this process's debounce says (``quiet_s``
        is infinite)."""
        async with self._lock:
            cursor = await self._conn().execute(
                f"SELECT i.update_id, i.payload {_UNMERGED} "
                "AND i.chat_id = ? AND i.media_group_id = ? ORDER BY i.update_id",
                album,
            )
            rows = await cursor.fetchall()
        claimed = self._claimed.get(album, set())
        rows = [row for row in rows if row[0] not in claimed]
        return GroupItems(tuple(row[1] for row in rows), math.inf, tuple(row[0] for row in rows))

    async def albums(self) -> list[AlbumKey]:
        """Albums with items not yet stored."""
        async with self._lock:
            cursor = await self._conn().execute(
                f"SELECT DISTINCT i.chat_id, i.media_group_id {_UNMERGED}"
            )
            rows = await cursor.fetchall()
        return [(row[0], row[1]) for row in rows]

    async def pending(self) -> dict[AlbumKey, list[dict[str, Any]]]:
        """Albums not yet stored as turns, with their update payloads in update order."""
        async with self._lock:
            cursor = await self._conn().execute(
                f"SELECT i.chat_id, i.media_group_id, i.payload {_UNMERGED} ORDER BY i.update_id"
            )
            rows = await cursor.fetchall()
        albums: dict[AlbumKey, list[dict[str, Any]]] = defaultdict(list)
        for chat_id, media_group_id, payload in rows:
            albums[(chat_id, media_group_id)].append(json.loads(payload))
        return dict(albums)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
