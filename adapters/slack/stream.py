"""A live preview of an answer: one ``chat.postMessage`` placeholder, then paced ``chat.update``.

The worker may call :meth:`SlackReplyStream.update` for every token; the call only records
the text and never waits for Slack. A background task sends the newest text at most once
per ``interval_s`` (and waits out a 429's ``Retry-After`` before sending again), so the
preview never hammers the Tier 3 ``chat.update`` limit. The final text is delivered by the
outbox, which edits the draft (``OutboundMessage.stream_ref``) instead of trusting the
preview, so a preview that lags or stops never truncates the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.slack.formatting import SLACK_SAFE_CHARS, escape_mrkdwn
from core.errors import PlatformError, RateLimitedError

logger = logging.getLogger(__name__)

PLACEHOLDER = "…"


@dataclass(frozen=True, slots=True)
class StreamCalls:
    """The two Web API calls a preview needs (bound by the adapter).

    Attributes:
        post: ``(channel, text, thread_ts) -> ts`` of the new message.
        update: ``(channel, ts, text) -> None``.
    """

    post: Callable[[str, str, str | None], Awaitable[str]]
    update: Callable[[str, str, str], Awaitable[None]]


def preview_text(text_so_far: str, limit: int = SLACK_SAFE_CHARS) -> str:
    """Escape the partial answer and keep it within one message (the outbox splits the final)."""
    escaped = escape_mrkdwn(text_so_far.strip()) or PLACEHOLDER
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + PLACEHOLDER


class SlackReplyStream:
    """Paced preview of one answer in one thread (implements :class:`core.ports.ReplyStream`).

    Args:
        calls: Bound Web API calls.
        channel: Channel to post in.
        thread_ts: Thread to post in (None for top level).
        interval_s: Least time between two Slack calls of this preview.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        calls: StreamCalls,
        channel: str,
        thread_ts: str | None,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._calls = calls
        self._channel = channel
        self._thread_ts = thread_ts
        self._interval = interval_s
        self._clock = clock
        self._ts: str | None = None
        self._latest = ""
        self._sent: str | None = None
        self._next_allowed = 0.0
        self._closed = False
        self._sending = False
        self._task: asyncio.Task[None] | None = None
        self.error: PlatformError | None = None
        self.call_times: list[float] = []  # clock() of each Slack call, for pacing checks

    @property
    def ref(self) -> str | None:
        """``"{channel}:{ts}"`` of the draft message, once it exists."""
        return f"{self._channel}:{self._ts}" if self._ts else None

    async def update(self, text_so_far: str) -> None:
        """Record the newest text; a background task sends it when pacing allows."""
        if self._closed or self.error is not None:
            return
        self._latest = text_so_far
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump(), name="slack-stream-pump")

    async def _pump(self) -> None:
        while not self._closed and preview_text(self._latest) != self._sent:
            delay = self._next_allowed - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            await self._send_once()
            if self.error is not None:
                return

    async def _send_once(self) -> None:
        text = preview_text(self._latest)
        self._sending = True
        try:
            self.call_times.append(self._clock())
            if self._ts is None:
                self._ts = await self._calls.post(self._channel, text, self._thread_ts)
            else:
                await self._calls.update(self._channel, self._ts, text)
            self._sent = text
            self._next_allowed = self._clock() + self._interval
        except RateLimitedError as exc:
            # Honour Retry-After; the newest text goes out once the wait is over.
            self._next_allowed = self._clock() + max(exc.retry_after, self._interval)
        except PlatformError as exc:
            # The preview is best effort: stop editing and let the outbox post the final
            # text (as a new message when no draft exists). Recorded for the caller.
            logger.warning("slack preview stopped in %s: %s", self._channel, exc.code)
            self.error = exc
        finally:
            self._sending = False

    async def close(self) -> None:
        """Stop previewing. Waits for a call in flight, so ``ref`` is final when this returns."""
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        if not self._sending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
