"""Development-mode ``getUpdates`` loop that never confirms an update before it is stored.

Telegram treats every update below the ``offset`` of a ``getUpdates`` call as confirmed
and deletes it. So the offset sent is always the lowest update that is not yet durable:
album items wait for their merged turn, and a failed update is fetched again. Updates
that come back because of that (already handled, or still waiting in an album) are
skipped locally; anything that slips through is a duplicate for the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Bot, Update
from telegram.error import RetryAfter, TelegramError

from adapters.telegram.outbound import retry_after_seconds

log = logging.getLogger(__name__)

# What handling one update returns: None once it is durable (or ignored), or a future that
# completes when it is (an album item waiting for its merged turn).
IngestFn = Callable[[Update], Awaitable["asyncio.Future[Any] | None"]]


class PollCursor:
    """Which update ids are done, which are waiting, and the offset that is safe to send."""

    def __init__(self) -> None:
        self._seen_max: int | None = None
        self._waiting: set[int] = set()

    @property
    def offset(self) -> int | None:
        """Lowest update id not yet durable (None before the first update)."""
        if self._seen_max is None:
            return min(self._waiting) if self._waiting else None
        return min(self._waiting | {self._seen_max + 1})

    @property
    def waiting(self) -> bool:
        return bool(self._waiting)

    def is_new(self, update_id: int) -> bool:
        return self._seen_max is None or update_id > self._seen_max

    def seen(self, update_id: int) -> None:
        self._seen_max = update_id if self._seen_max is None else max(self._seen_max, update_id)

    def hold(self, update_id: int) -> None:
        """``update_id`` is handled but not durable yet."""
        self._waiting.add(update_id)

    def release(self, update_id: int) -> None:
        """``update_id`` is durable."""
        self._waiting.discard(update_id)

    def rewind(self, update_id: int) -> None:
        """``update_id`` failed: fetch it (and what follows it) again."""
        self._waiting.discard(update_id)
        if self._seen_max is not None:
            self._seen_max = min(self._seen_max, update_id - 1)


class Poller:
    """Runs ``getUpdates`` until stopped.

    Args:
        bot: PTB bot.
        ingest: Handles one update (see :data:`IngestFn`); raises if it could not be stored.
        timeout_s: Long-poll timeout.
        allowed_updates: Update types to receive.
        idle_pause_s: Pause between polls while album items wait (the offset cannot move,
            so Telegram would answer instantly with the same items).
        max_backoff_s: Longest pause after repeated errors.
    """

    def __init__(
        self,
        bot: Bot,
        ingest: IngestFn,
        timeout_s: int,
        allowed_updates: Sequence[str],
        idle_pause_s: float = 0.2,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._bot = bot
        self._ingest = ingest
        self._timeout = timeout_s
        self._allowed = list(allowed_updates)
        self._idle_pause = idle_pause_s
        self._max_backoff = max_backoff_s
        self.cursor = PollCursor()
        self._failures = 0
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Poll until :meth:`stop`."""
        while not self._stopping.is_set():
            try:
                updates = await self._bot.get_updates(
                    offset=self.cursor.offset,
                    timeout=0 if self.cursor.waiting else self._timeout,
                    allowed_updates=self._allowed,
                )
            except RetryAfter as exc:
                await self._pause(retry_after_seconds(exc))
                continue
            except TelegramError as exc:
                log.warning("telegram getUpdates failed: %s", exc.message)
                await self._backoff()
                continue
            fresh = [u for u in updates if self.cursor.is_new(u.update_id)]
            if not await self._handle(fresh):
                await self._backoff()
            elif self.cursor.waiting and not fresh:
                await self._pause(self._idle_pause)

    async def _handle(self, updates: list[Update]) -> bool:
        """Handle updates in order; False (and rewound) at the first that fails."""
        for update in updates:
            update_id = update.update_id
            self.cursor.seen(update_id)
            try:
                pending = await self._ingest(update)
            except Exception as exc:  # the update is fetched again, not lost
                log.error("telegram update %s not stored, will retry: %s", update_id, exc)
                self.cursor.rewind(update_id)
                return False
            if pending is not None:
                self.cursor.hold(update_id)
                pending.add_done_callback(functools.partial(self._settle, update_id))
        self._failures = 0
        return True

    def _settle(self, update_id: int, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.cursor.rewind(update_id)
        else:
            self.cursor.release(update_id)

    async def _backoff(self) -> None:
        self._failures += 1
        await self._pause(min(self._max_backoff, 0.5 * 2 ** (self._failures - 1)))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def stop(self) -> None:
        """Ask the loop to end after the current ``getUpdates`` call."""
        self._stopping.set()
