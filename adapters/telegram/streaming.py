"""Live previews of answers: a draft message edited at a paced rate, plus "typing…".

Telegram tolerates about one message or edit per second per chat. :class:`ChatPacer` hands
out send slots per chat and is shared by streams and final delivery, so the final edit
also respects the pace. :class:`TelegramReplyStream` never blocks the worker: ``update``
only records the newest text, and a background task sends the first draft, then edits it
no more often than the pacer allows, always with the newest text and never with the same
text twice. A ``RetryAfter`` during streaming pushes the chat's next slot back and the
stream simply catches up later; the final text is delivered through the outbox anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import Forbidden, RetryAfter, TelegramError

from adapters.telegram.outbound import (
    draft_preview,
    is_edit_target_gone,
    is_not_modified,
    retry_after_seconds,
)

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 15.0  # an in-flight Bot API call is allowed to finish within this


class ChatPacer:
    """Per-chat send slots at most one per ``interval_s``.

    Args:
        interval_s: Minimum seconds between two sends or edits in one chat.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._next: dict[str, float] = {}

    def peek(self, chat: str) -> float:
        """Seconds until ``chat`` has a free slot (without taking it)."""
        return max(0.0, self._next.get(chat, 0.0) - self._clock())

    def reserve(self, chat: str) -> float:
        """Take ``chat``'s next slot; returns how many seconds to wait before using it."""
        now = self._clock()
        at = max(now, self._next.get(chat, 0.0))
        self._next[chat] = at + self.interval_s
        if len(self._next) > 10_000:  # forget chats whose slots are long past
            self._next = {c: t for c, t in self._next.items() if t > now}
        return at - now

    def defer(self, chat: str, seconds: float) -> None:
        """Push ``chat``'s next slot at least ``seconds`` from now (after a 429)."""
        self._next[chat] = max(self._next.get(chat, 0.0), self._clock() + seconds)

    async def wait(self, chat: str) -> None:
        """Take the next slot and sleep until it is due.

        The following slot is counted from when this one is really used: a busy event loop
        that wakes us late must not let the next call follow sooner than the interval.
        """
        delay = self.reserve(chat)
        if delay > 0:
            await asyncio.sleep(delay)
        self._next[chat] = max(self._next.get(chat, 0.0), self._clock() + self.interval_s)


class TelegramReplyStream:
    """A throttled draft message plus a repeating typing indicator.

    Args:
        bot: PTB bot.
        pacer: Shared per-chat pacer.
        chat_id: Telegram chat.
        thread_id: Forum topic, if any.
        quote: Message id the draft replies to, if any.
        typing_interval_s: How often to repeat ``sendChatAction(typing)`` (it lasts ~5 s).
        business_connection_id: Write on behalf of this business account, if set.
    """

    def __init__(
        self,
        bot: Bot,
        pacer: ChatPacer,
        chat_id: int | str,
        thread_id: int | None,
        quote: int | None,
        typing_interval_s: float = 4.0,
        business_connection_id: str | None = None,
    ) -> None:
        self._bot = bot
        self._business = business_connection_id
        self._pacer = pacer
        self._chat_id = chat_id
        self._chat = str(chat_id)
        self._thread_id = thread_id
        self._quote = quote
        self._typing_interval = typing_interval_s
        self._latest = ""
        self._shown = ""
        self._message_id: int | None = None
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._editor = asyncio.create_task(self._edit_loop(), name=f"tg-stream-{chat_id}")
        self._typing = asyncio.create_task(self._typing_loop(), name=f"tg-typing-{chat_id}")

    @property
    def ref(self) -> str | None:
        """The draft's Telegram message id, once it has been sent."""
        return str(self._message_id) if self._message_id is not None else None

    async def update(self, text_so_far: str) -> None:
        """Record the newest text; the editor task shows it when the pace allows."""
        if self._closed.is_set():
            return
        self._latest = text_so_far
        self._wake.set()

    async def close(self) -> None:
        """Stop typing and editing; waits for an in-flight call so ``ref`` is final."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._wake.set()
        self._typing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._typing
        try:
            await asyncio.wait_for(asyncio.shield(self._editor), CLOSE_TIMEOUT_S)
        except TimeoutError:
            self._editor.cancel()

    async def _sleep_unless_closed(self, seconds: float) -> bool:
        """Sleep; True if the stream was closed meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), seconds)
        return self._closed.is_set()

    async def _edit_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed.is_set():
                return
            if not draft_preview(self._latest) or draft_preview(self._latest) == self._shown:
                continue
            delay = self._pacer.reserve(self._chat)
            if delay > 0 and await self._sleep_unless_closed(delay):
                return
            preview = draft_preview(self._latest)  # the newest text, after the wait
            if preview == self._shown:
                continue
            if not await self._show(preview):
                return

    async def _show(self, preview: str) -> bool:
        """Send or edit the draft; False when streaming should stop for good."""
        try:
            if self._message_id is None:
                reply = (
                    ReplyParameters(self._quote, allow_sending_without_reply=True)
                    if self._quote
                    else None
                )
                sent = await self._bot.send_message(
                    self._chat_id,
                    preview,
                    message_thread_id=self._thread_id,
                    reply_parameters=reply,
                    business_connection_id=self._business,
                )
                self._message_id = sent.message_id
            else:
                await self._bot.edit_message_text(
                    preview, self._chat_id, self._message_id, business_connection_id=self._business
                )
            self._shown = preview
        except RetryAfter as exc:
            self._pacer.defer(self._chat, retry_after_seconds(exc))
            self._wake.set()  # try again with the newest text once the wait is over
        except TelegramError as exc:
            if is_not_modified(exc):
                self._shown = preview
                return True
            # A preview is best effort: the final text still goes through the outbox, which
            # reports these errors properly. Stop on errors that will not go away.
            log.warning("telegram stream in chat %s: %s", self._chat, exc.message)
            return not (isinstance(exc, Forbidden) or is_edit_target_gone(exc))
        return True

    async def _typing_loop(self) -> None:
        while not self._closed.is_set():
            try:
                await self._bot.send_chat_action(
                    self._chat_id,
                    ChatAction.TYPING,
                    message_thread_id=self._thread_id,
                    business_connection_id=self._business,
                )
            except RetryAfter as exc:
                if await self._sleep_unless_closed(retry_after_seconds(exc)):
                    return
                continue
            except TelegramError as exc:
                # Cosmetic only; a chat that refuses "typing" will refuse the answer too,
                # and delivery reports that. Stop rather than hammer it.
                log.info("typing indicator stopped in chat %s: %s", self._chat, exc.message)
                return
            if await self._sleep_unless_closed(self._typing_interval):
                return
