"""Native Slack streaming (``chat.startStream`` / ``appendStream`` / ``stopStream``) with the
thread's status while the answer is prepared, falling back to ``chat.update`` when Slack
closes a stream.

:class:`SlackNativeStream` shows "is thinking…" (``assistant.threads.setStatus``) at once;
with a preview it opens the streamed reply with the first text and appends the new text at
most once per interval. Slack may end a stream on its own (``message_not_in_streaming_state``);
the message then stays, and the stream goes on with paced ``chat.update`` of the whole text.
Without a preview (answers that may be withheld) it only shows the status.

The answer itself comes through the outbox: :meth:`NativeStreams.finish` ends the stream with
the rest of the final text and the answer's blocks (``chat.stopStream``), or, when the stream
was closed or shows something else, replaces the message with ``chat.update``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.slack import errors as slack_errors
from adapters.slack.formatting import SLACK_SAFE_CHARS, SlackOutgoing, escape_mrkdwn
from adapters.slack.outbound import SlackWebApi, StreamRecipient
from core.errors import PlatformError, RateLimitedError

log = logging.getLogger(__name__)

NATIVE_PREFIX = "native:"
MAX_REMEMBERED = 1_000


@dataclass(frozen=True, slots=True)
class StatusText:
    """What the thread shows while kefu works (``assistant.threads.setStatus``)."""

    status: str = "is thinking…"
    loading: tuple[str, ...] = ()


@dataclass(slots=True)
class StreamState:
    """What a native stream left on a message, for the outbox's final delivery.

    Attributes:
        channel: Its channel.
        ts: The streamed message.
        shown: The escaped text the message shows.
        streaming: Slack's stream is still open (``stopStream`` can finish it).
    """

    channel: str
    ts: str
    shown: str = ""
    streaming: bool = True

    def showing(self, text: str) -> None:
        self.shown = text

    def closed(self) -> None:
        """Slack ended the stream (or it cannot take the text back): edits from now on."""
        self.streaming = False


def stream_recipient(
    channel: str, user_id: str, team_id: str
) -> tuple[bool, StreamRecipient | None]:
    """Whether a native stream can go to ``channel``, and who it is for there.

    DMs need no recipient; channel streams need the asking user's and the team's ids.
    """
    if channel.startswith("D"):
        return True, None
    if not user_id or not team_id:
        return False, None
    return True, StreamRecipient(user_id, team_id)


class NativeStreams:
    """The streams this process opened, by message ts, until the outbox finishes them."""

    def __init__(self) -> None:
        self._states: OrderedDict[str, StreamState] = OrderedDict()

    def add(self, state: StreamState) -> None:
        self._states[state.ts] = state
        while len(self._states) > MAX_REMEMBERED:
            self._states.popitem(last=False)

    def pop(self, ts: str) -> StreamState | None:
        return self._states.pop(ts, None)

    async def finish(
        self,
        api: SlackWebApi,
        channel: str,
        ref: str,
        piece: SlackOutgoing,
        tail: Sequence[dict[str, Any]],
    ) -> str:
        """Turn the streamed message ``ref`` into ``piece`` (plus ``tail`` blocks); its ts.

        ``tail`` are the blocks under the answer (feedback buttons); ``piece`` is what a plain
        message would carry, used when the stream cannot be finished natively.
        """
        ts = ref.rpartition(":")[2]
        state = self.pop(ts) or StreamState(channel, ts, shown="\0unknown")
        if state.streaming and piece.text.startswith(state.shown):
            try:
                await api.stop_stream(channel, ts, piece.text[len(state.shown) :], tail)
                return ts
            except PlatformError as exc:
                if slack_errors.code_of(exc) != slack_errors.STREAM_CLOSED:
                    raise
        elif state.streaming:
            # This process does not know what the stream shows (a restart), or the final text
            # differs: end the stream if it is still open, then replace the whole message.
            with contextlib.suppress(PlatformError):
                await api.stop_stream(channel, ts)
        await api.update(channel, ts, piece)
        return ts


class SlackNativeStream:
    """Status, then a native streamed reply (implements :class:`core.ports.ReplyStream`).

    Args:
        api: The Web API.
        streams: Where the stream's state is left for the final delivery.
        channel: The channel.
        thread_ts: The thread (streams are always replies).
        recipient: The user and team a channel stream is for (None in DMs).
        interval_s: Least time between two Slack calls.
        preview: Stream the text (else only the status).
        status: The status to show; None when statuses are off.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        api: SlackWebApi,
        streams: NativeStreams,
        channel: str,
        thread_ts: str,
        *,
        recipient: StreamRecipient | None,
        interval_s: float,
        preview: bool = True,
        status: StatusText | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_started: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._api, self._streams = api, streams
        self._on_started = on_started
        self._channel, self._thread = channel, thread_ts
        self._recipient = recipient
        self._interval = interval_s
        self._preview = preview
        self._status = status
        self._clock = clock
        self._latest = ""
        self._state: StreamState | None = None
        self._next_allowed = 0.0
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._status_task = asyncio.create_task(self._show_status()) if status else None
        self.error: PlatformError | None = None

    @property
    def ref(self) -> str | None:
        """``"native:{channel}:{ts}"`` of the streamed reply, once it exists."""
        state = self._state
        return f"{NATIVE_PREFIX}{state.channel}:{state.ts}" if state else None

    async def _show_status(self) -> None:
        assert self._status is not None
        try:
            await self._api.set_status(
                self._channel, self._thread, self._status.status, self._status.loading
            )
        except PlatformError as exc:  # cosmetic: the answer comes anyway
            log.info("slack status in %s not shown: %s", self._channel, exc)

    async def update(self, text_so_far: str) -> None:
        """Record the newest text; a background task streams it when pacing allows."""
        if self._closed or self.error is not None or not self._preview:
            return
        self._latest = text_so_far
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump(), name="slack-native-stream")

    def _text(self) -> str:
        return escape_mrkdwn(self._latest.strip())[:SLACK_SAFE_CHARS]

    async def _pump(self) -> None:
        while not self._closed and self.error is None:
            text = self._text()
            if not text or (self._state is not None and text == self._state.shown):
                return
            delay = self._next_allowed - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            await self._send(text)

    async def _send(self, text: str) -> None:
        self._next_allowed = self._clock() + self._interval
        try:
            await self._write(text)
        except RateLimitedError as exc:
            self._next_allowed = self._clock() + max(exc.retry_after, self._interval)
        except PlatformError as exc:
            if slack_errors.code_of(exc) == slack_errors.STREAM_CLOSED and self._state:
                log.info("slack closed the stream %s; editing it instead", self._state.ts)
                self._state.closed()
                self._next_allowed = 0.0
                return
            log.warning("slack stream in %s stopped: %s", self._channel, exc.code)
            self.error = exc

    async def _write(self, text: str) -> None:
        state = self._state
        if state is None:
            ts = await self._api.start_stream(self._channel, self._thread, text, self._recipient)
            self._state = StreamState(self._channel, ts, text)
            self._streams.add(self._state)
            if self._on_started is not None:
                await self._on_started(ts)
        elif state.streaming and text.startswith(state.shown):
            await self._api.append_stream(self._channel, state.ts, text[len(state.shown) :])
            state.showing(text)
        else:
            state.closed()  # appending cannot take text back: edit from now on
            await self._api.update(self._channel, state.ts, SlackOutgoing(text))
            state.showing(text)

    async def close(self) -> None:
        """Stop streaming (waiting for a call in flight); clear a status nothing replaced."""
        self._closed = True
        for task in (self._status_task, self._task):
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._status is not None and self._state is None:
            # No streamed reply replaced the status; the final post clears it too, but an
            # answer may send nothing (a stop): never leave "is thinking…" behind.
            with contextlib.suppress(PlatformError):
                await self._api.set_status(self._channel, self._thread, "")
