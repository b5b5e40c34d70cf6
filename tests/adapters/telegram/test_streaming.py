"""ChatPacer and TelegramReplyStream with the real PTB client against the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from adapters.telegram.outbound import ELLIPSIS, utf16_len
from adapters.telegram.streaming import ChatPacer, TelegramReplyStream
from tests.adapters.telegram.conftest import assert_paced
from tests.fakes.telegram_server import FakeTelegramServer

INTERVAL = 0.2
TOLERANCE = 0.03  # timer jitter on a busy 2-core machine


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as client:
        yield client


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_slots_per_chat_and_defers_after_a_429() -> None:
    clock = FakeClock()
    pacer = ChatPacer(1.0, clock)
    assert pacer.reserve("a") == 0.0
    assert pacer.reserve("a") == 1.0
    assert pacer.reserve("b") == 0.0  # chats are independent
    clock.now += 5
    assert pacer.peek("a") == 0.0 and pacer.reserve("a") == 0.0
    pacer.defer("a", 7)
    assert pacer.peek("a") == 7.0


def _stream_calls(tg: FakeTelegramServer) -> list[float]:
    return [
        c.at for c in tg.calls if c.method in ("sendMessage", "editMessageText") and c.status == 200
    ]


async def test_stream_edits_no_faster_than_the_interval_and_never_repeat(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    stream = TelegramReplyStream(bot, ChatPacer(INTERVAL), 42, None, quote=7, typing_interval_s=0.3)
    words: list[str] = []
    for index in range(60):  # ~1.2 s of tokens every 20 ms
        words.append(f"w{index}")
        await stream.update(" ".join(words))
        await asyncio.sleep(0.02)
    await asyncio.sleep(INTERVAL + 0.05)  # let the last paced edit happen
    await stream.close()
    times = _stream_calls(tg)
    assert len(times) >= 4
    assert_paced(times, INTERVAL)
    assert len(times) <= 1.3 / INTERVAL + 2  # paced, not one call per token
    (draft,) = tg.chat_messages(42)
    assert stream.ref == str(draft.message_id)
    assert draft.reply_to == 7
    assert draft.text == " ".join(words)  # the newest text was shown last
    assert len(set(draft.edits)) == len(draft.edits)
    assert tg.calls_of("sendChatAction")[0].params["action"] == "typing"


async def test_typing_repeats_until_closed(tg: FakeTelegramServer, bot: Bot) -> None:
    stream = TelegramReplyStream(bot, ChatPacer(INTERVAL), 42, None, None, typing_interval_s=0.1)
    await asyncio.sleep(0.35)
    await stream.close()
    count = len(tg.calls_of("sendChatAction"))
    assert count >= 3
    await asyncio.sleep(0.25)
    assert len(tg.calls_of("sendChatAction")) == count  # stopped after close
    assert stream.ref is None  # nothing was streamed, so no draft exists


async def test_long_draft_shows_the_tail_within_4096(tg: FakeTelegramServer, bot: Bot) -> None:
    stream = TelegramReplyStream(bot, ChatPacer(INTERVAL), 42, None, None)
    await stream.update("head " + "z" * 5000 + " tail")
    await asyncio.sleep(0.1)
    await stream.close()
    (draft,) = tg.chat_messages(42)
    assert draft.text.startswith(ELLIPSIS) and draft.text.endswith("tail")
    assert utf16_len(draft.text) <= 4096


async def test_retry_after_during_streaming_is_waited_out(tg: FakeTelegramServer, bot: Bot) -> None:
    stream = TelegramReplyStream(bot, ChatPacer(INTERVAL), 42, None, None)
    await stream.update("first")
    await asyncio.sleep(0.05)
    tg.fail_next("editMessageText", count=1, retry_after=1)
    await stream.update("first second")
    await asyncio.sleep(0.4)  # the edit got 429 and must now wait ~1 s
    await stream.update("first second third")
    await asyncio.sleep(0.2)
    limited_at = tg.calls_of("editMessageText")[0].at
    assert tg.calls_of("editMessageText")[0].status == 429
    assert tg.calls_of("editMessageText", ok_only=True) == []  # still waiting
    await asyncio.sleep(0.7)
    ok = tg.calls_of("editMessageText", ok_only=True)
    assert len(ok) == 1 and ok[0].at - limited_at >= 1.0 - TOLERANCE
    assert tg.chat_texts(42) == ["first second third"]  # caught up with the newest text
    await stream.close()


async def test_close_waits_for_an_in_flight_first_message(tg: FakeTelegramServer, bot: Bot) -> None:
    stream = TelegramReplyStream(bot, ChatPacer(INTERVAL), 42, None, None)
    await stream.update("hello")
    await asyncio.sleep(0)  # the editor task starts sending
    await stream.close()
    assert stream.ref is not None
    assert tg.chat_texts(42) == ["hello"]
    await stream.update("ignored after close")
    await asyncio.sleep(0.3)
    assert tg.chat_texts(42) == ["hello"]


async def test_blocked_chat_stops_streaming_quietly(tg: FakeTelegramServer, bot: Bot) -> None:
    tg.blocked_chats.add(42)
    stream = TelegramReplyStream(bot, ChatPacer(0.05), 42, None, None)
    for text in ("a", "a b", "a b c"):
        await stream.update(text)
        await asyncio.sleep(0.1)
    await stream.close()
    assert len(tg.calls_of("sendMessage")) == 1  # gave up after the 403
    assert stream.ref is None


async def test_a_late_wake_up_does_not_shorten_the_next_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.telegram import streaming

    now = [0.0]

    async def late_sleep(delay: float) -> None:
        now[0] += delay + 0.4  # a busy event loop wakes us 0.4 s late

    monkeypatch.setattr(streaming.asyncio, "sleep", late_sleep)
    pacer = streaming.ChatPacer(1.0, clock=lambda: now[0])
    await pacer.wait("c")  # used at 0.0
    now[0] = 0.5
    await pacer.wait("c")  # due at 1.0, really used at 1.4
    assert pacer.peek("c") == pytest.approx(1.0)  # the next waits a full interval from 1.4
