"""Native streaming in private chats: ``sendMessageDraft`` (Bot API 9.3+), with a stop button.

A draft is Telegram's own "answer being written" bubble. :class:`TelegramDraftStream`
shows an empty draft at once (Telegram renders it as a "Thinking…" placeholder), then the
text as it grows when the answer may be previewed, paced, never the same text twice. A draft
lives about 30 s, so while the answer takes longer the newest draft is sent again before
it expires. The stream never sends the answer itself: the outbox delivers it with exactly
one ``sendMessage`` (which also ends the draft), so ``ref`` is always None.

With ``can_stop`` the draft carries a stop button; the adapter routes the update a press
sends to the core (which aborts the engine) and :meth:`TelegramDraftStream.halt` stops
drafting at once, so nothing more appears.

When the Bot API refuses a draft (a chat that takes none), the stream shows "typing…" for
the rest of the answer; when the server does not know the method at all (an older Bot API
server), it also calls ``on_unsupported``, and the adapter streams by edits from the next
answer on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from adapters.telegram.botapi import Draft, send_message_draft
from adapters.telegram.outbound import draft_preview, retry_after_seconds

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 15.0
_NO_METHOD = ("method not found", "method is not supported", "unknown method")


def drafts_unknown(error: TelegramError) -> bool:
    """True when the Bot API server does not know drafts at all (an older server).

    Such a server answers 404 "Not Found", which PTB raises as :class:`InvalidToken` (its
    reading of a 404 for every method). The token itself passed ``getMe`` at start, so a 404
    for this one method means the method is unknown.
    """
    text = error.message.lower()
    if isinstance(error, InvalidToken):
        return "not found" in text
    return isinstance(error, BadRequest) and any(marker in text for marker in _NO_METHOD)


class TelegramDraftStream:
    """One answer's draft in one private chat (implements :class:`core.ports.ReplyStream`).

    Args:
        bot: PTB bot.
        chat_id: The private chat.
        thread_id: Its topic, if any.
        draft_id: Non-zero id of this answer's draft.
        interval_s: Least time between two draft calls.
        keepalive_s: Send the draft again after this long without a call (drafts expire
            after about 30 s).
        can_stop: Show the stop button.
        on_unsupported: Called once when Telegram refuses drafts for good.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        thread_id: int | None,
        draft_id: int,
        *,
        interval_s: float = 0.5,
        keepalive_s: float = 20.0,
        can_stop: bool = False,
        on_unsupported: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bot = bot
        self.chat_id = chat_id
        self.thread_id = thread_id
        self.draft_id = draft_id
        self._interval = interval_s
        self._keepalive = keepalive_s
        self._can_stop = can_stop
        self._on_unsupported = on_unsupported
        self._clock = clock
        self._latest = ""
        self._shown: str | None = None  # None: nothing shown yet (the placeholder is "")
        self._last_call = -1e9
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self.halted = False
        self.refused = False
        self._task = asyncio.create_task(self._run(), name=f"tg-draft-{chat_id}")

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def ref(self) -> str | None:
        """Always None: the final answer is a new message, never an edit of the draft."""
        return None

    async def update(self, text_so_far: str) -> None:
        """Record the newest text; the drafting task shows it when the pace allows."""
        if self._closed.is_set():
            return
        self._latest = text_so_far
        self._wake.set()

    def halt(self) -> None:
        """The user pressed stop: send no further draft (the core aborts the answer)."""
        self.halted = True
        self._closed.set()
        self._wake.set()

    async def close(self) -> None:
        """Stop drafting; waits for a call in flight (the final message must come after)."""
        self._closed.set()
        self._wake.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_TIMEOUT_S)
        if not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.clear()  # before reading the text: an update from now on wakes us
            # The placeholder first, at once: the customer sees "Thinking…" before any text.
            text = "" if self._shown is None else draft_preview(self._latest)
            due = self._last_call + self._interval - self._clock()
            if due > 0:
                await self._sleep(due)
                continue
            if text != self._shown or self._clock() - self._last_call >= self._keepalive:
                if not await self._send(text):
                    return
                continue
            wait = self._keepalive - (self._clock() - self._last_call)
            await self._sleep(max(wait, 0.0), wake=True)

    async def _sleep(self, seconds: float, wake: bool = False) -> None:
        waiters = [asyncio.ensure_future(self._closed.wait())]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _send(self, text: str) -> bool:
        """One draft call; False when drafting must stop for good."""
        self._last_call = self._clock()
        draft = Draft(self.chat_id, self.draft_id, text, self.thread_id, self._can_stop)
        try:
            await send_message_draft(self._bot, draft)
        except RetryAfter as exc:
            self._last_call = self._clock() + retry_after_seconds(exc) - self._interval
            return True
        except TelegramError as exc:
            return await self._failed(exc)
        self._shown = text
        return True

    async def _failed(self, exc: TelegramError) -> bool:
        if isinstance(exc, BadRequest) or drafts_unknown(exc):  # no drafts here, or anywhere
            log.warning("telegram refuses drafts in chat %s: %s", self.chat_id, exc.message)
            self.refused = True
            if drafts_unknown(exc) and self._on_unsupported is not None:
                self._on_unsupported()
            await self._typing_until_closed()
            return False
        # A draft is a preview: the answer still comes through the outbox, which reports
        # failures properly. Stop on errors that will not go away; retry the others later.
        log.info("telegram draft in chat %s: %s", self.chat_id, exc.message)
        return not isinstance(exc, Forbidden)

    async def _typing_until_closed(self) -> None:
        while not self._closed.is_set():
            with contextlib.suppress(TelegramError):
                await self._bot.send_chat_action(
                    self.chat_id, ChatAction.TYPING, message_thread_id=self.thread_id
                )
            await self._sleep(4.0)
