"""The paced live preview: placeholder first, then at most one edit per interval, 429 honoured."""

from __future__ import annotations

import asyncio
import itertools
import time

from adapters.slack.stream import PLACEHOLDER, SlackReplyStream, StreamCalls, preview_text
from core.errors import PlatformError, RateLimitedError


class RecordingCalls:
    """Records preview calls; can be told to fail the next call or to be slow."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, float]] = []  # (kind, text, monotonic time)
        self.fail_next: list[Exception] = []
        self.delay_s = 0.0

    async def post(self, channel: str, text: str, thread_ts: str | None) -> str:
        await self._maybe_fail("post", text)
        return "1700000000.000001"

    async def update(self, channel: str, ts: str, text: str) -> None:
        await self._maybe_fail("update", text)

    async def _maybe_fail(self, kind: str, text: str) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.log.append((kind, text, time.monotonic()))
        if self.fail_next:
            raise self.fail_next.pop(0)

    def calls(self) -> StreamCalls:
        return StreamCalls(self.post, self.update)


async def feed(stream: SlackReplyStream, words: int, every_s: float) -> str:
    text = ""
    for i in range(words):
        text = f"{text} t{i}".strip()
        await stream.update(text)
        await asyncio.sleep(every_s)
    return text


async def test_placeholder_then_paced_updates_ending_with_the_latest_text() -> None:
    calls = RecordingCalls()
    stream = SlackReplyStream(calls.calls(), "C1", "1.0", interval_s=0.1)
    final = await feed(stream, 60, 0.01)  # ~0.6 s of tokens
    await asyncio.sleep(0.15)  # the trailing edge flushes the newest text
    await stream.close()
    kinds = [k for k, _, _ in calls.log]
    assert kinds[0] == "post" and set(kinds[1:]) == {"update"}
    gaps = [b[2] - a[2] for a, b in itertools.pairwise(calls.log)]
    assert min(gaps) >= 0.09
    assert 4 <= len(calls.log) <= 9  # ~0.7 s / 0.1 s, not one call per token
    assert calls.log[-1][1] == final
    assert stream.ref == "C1:1700000000.000001"


async def test_update_never_waits_for_slack() -> None:
    calls = RecordingCalls()
    calls.delay_s = 0.3
    stream = SlackReplyStream(calls.calls(), "C1", None, interval_s=0.1)
    started = time.monotonic()
    for i in range(20):
        await stream.update(f"text {i}")
    assert time.monotonic() - started < 0.05
    await asyncio.sleep(0.01)  # the pump starts its (slow) placeholder post
    await stream.close()  # and close waits for it, so ref is final
    assert stream.ref is not None and len(calls.log) == 1


async def test_rate_limit_pauses_previews_for_retry_after() -> None:
    calls = RecordingCalls()
    calls.fail_next = [RateLimitedError("429", retry_after=0.4)]
    stream = SlackReplyStream(calls.calls(), "C1", None, interval_s=0.05)
    await stream.update("first")
    await asyncio.sleep(0.1)
    await stream.update("second")
    await asyncio.sleep(0.5)
    await stream.close()
    (_, _, t_limited), (kind, text, t_next) = calls.log[0], calls.log[1]
    assert t_next - t_limited >= 0.38
    assert (kind, text) == ("post", "second")  # the placeholder was retried with the newest text


async def test_other_errors_stop_the_preview_and_are_recorded() -> None:
    calls = RecordingCalls()
    calls.fail_next = [PlatformError("boom")]
    stream = SlackReplyStream(calls.calls(), "C1", None, interval_s=0.01)
    await stream.update("a")
    await asyncio.sleep(0.05)
    await stream.update("b")
    await asyncio.sleep(0.05)
    await stream.close()
    assert len(calls.log) == 1 and isinstance(stream.error, PlatformError)
    assert stream.ref is None  # the outbox will post the final text as a new message


async def test_close_before_any_text_posts_nothing() -> None:
    calls = RecordingCalls()
    stream = SlackReplyStream(calls.calls(), "C1", None, interval_s=0.1)
    await stream.close()
    await stream.update("late")
    await asyncio.sleep(0.02)
    assert calls.log == [] and stream.ref is None


def test_preview_text_is_escaped_and_bounded() -> None:
    assert preview_text("<!channel>") == "&lt;!channel&gt;"
    assert preview_text("   ") == PLACEHOLDER
    long = preview_text("x" * 5000)
    assert len(long) == 3900 and long.endswith(PLACEHOLDER)
