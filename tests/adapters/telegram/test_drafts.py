"""TelegramDraftStream against the fake Bot API with the real PTB client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from adapters.telegram.drafts import TelegramDraftStream
from tests.adapters.telegram.conftest import assert_paced, eventually
from tests.fakes.telegram_features import DraftState
from tests.fakes.telegram_server import FakeTelegramServer


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as client:
        yield client


def texts(tg: FakeTelegramServer) -> list[str]:
    return [c.params.get("text", "") for c in tg.calls_of("sendMessageDraft", ok_only=True)]


async def test_placeholder_then_paced_text_never_twice(tg: FakeTelegramServer, bot: Bot) -> None:
    stream = TelegramDraftStream(bot, 42, None, 11, interval_s=0.1, can_stop=True)
    words: list[str] = []
    for index in range(20):
        words.append(f"w{index}")
        await stream.update(" ".join(words))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.15)
    await stream.close()
    shown = texts(tg)
    assert shown[0] == "" and shown[-1] == " ".join(words)
    assert len(shown) == len(set(shown)) and len(shown) < 21  # never twice, not per token
    assert_paced([c.at for c in tg.calls_of("sendMessageDraft", ok_only=True)], 0.1)
    assert stream.ref is None  # the answer is a new message, not an edit
    (draft,) = tg.chat_drafts(42)
    assert draft.can_stop and draft.draft_id == 11


async def test_an_idle_draft_is_sent_again_before_it_expires(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.draft_ttl_s = 0.3
    stream = TelegramDraftStream(bot, 42, None, 12, interval_s=0.05, keepalive_s=0.1)
    await asyncio.sleep(0.55)
    await stream.close()
    await bot.send_message(42, "the answer")
    (draft,) = tg.chat_drafts(42)
    assert len(draft.texts) >= 4 and set(draft.texts) == {""}
    assert draft.expired_gaps == 0 and draft.state is DraftState.FINALIZED


async def test_halt_sends_no_further_draft(tg: FakeTelegramServer, bot: Bot) -> None:
    stream = TelegramDraftStream(bot, 42, None, 13, interval_s=0.05, can_stop=True)
    await stream.update("first words")
    await eventually(lambda: "first words" in texts(tg))
    stream.halt()
    count = len(texts(tg))
    await stream.update("first words and more")
    await asyncio.sleep(0.2)
    await stream.close()
    assert len(texts(tg)) == count


async def test_refused_drafts_switch_to_typing_and_report_once(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.fail_with("sendMessageDraft", 400, "Bad Request: method not found", count=9)
    refused: list[bool] = []
    stream = TelegramDraftStream(bot, 42, None, 14, on_unsupported=lambda: refused.append(True))
    await stream.update("text")
    await eventually(lambda: bool(tg.calls_of("sendChatAction")))
    await stream.close()
    assert refused == [True] and stream.refused
    assert len(tg.calls_of("sendMessageDraft")) == 1


async def test_a_server_without_drafts_404_switches_to_typing_and_reports_once(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    """An older Bot API server answers 404 "Not Found" (PTB: InvalidToken), not a 400."""
    tg.fail_with("sendMessageDraft", 404, "Not Found", count=9)
    refused: list[bool] = []
    stream = TelegramDraftStream(
        bot, 42, None, 17, interval_s=0.05, on_unsupported=lambda: refused.append(True)
    )
    await stream.update("text")
    await eventually(lambda: bool(tg.calls_of("sendChatAction")))
    await asyncio.sleep(0.2)
    await stream.close()
    assert refused == [True] and stream.refused
    assert len(tg.calls_of("sendMessageDraft")) == 1


async def test_an_unauthorized_token_is_not_read_as_drafts_unknown(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.fail_with("sendMessageDraft", 401, "Unauthorized", count=1)
    refused: list[bool] = []
    stream = TelegramDraftStream(
        bot, 42, None, 18, interval_s=0.05, on_unsupported=lambda: refused.append(True)
    )
    await stream.update("text")
    await eventually(lambda: len(tg.calls_of("sendMessageDraft", ok_only=True)) >= 1)
    await stream.close()
    assert refused == [] and not stream.refused


async def test_a_429_is_waited_out_then_the_newest_text_shown(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    tg.fail_next("sendMessageDraft", count=1, retry_after=1, after=1)
    stream = TelegramDraftStream(bot, 42, None, 15, interval_s=0.05)
    await stream.update("one")
    await asyncio.sleep(0.2)
    await stream.update("one two")
    await asyncio.sleep(1.1)
    await stream.close()
    ok = tg.calls_of("sendMessageDraft", ok_only=True)
    limited = [c for c in tg.calls_of("sendMessageDraft") if c.status == 429]
    assert len(limited) == 1 and ok[-1].params["text"] == "one two"
    assert ok[-1].at - limited[0].at >= 0.95


async def test_groups_are_refused_by_telegram(tg: FakeTelegramServer, bot: Bot) -> None:
    refused: list[bool] = []
    stream = TelegramDraftStream(
        bot, -100123, None, 16, on_unsupported=lambda: refused.append(True)
    )
    await eventually(lambda: bool(tg.calls_of("sendMessageDraft")))
    await stream.close()
    assert tg.calls_of("sendMessageDraft")[0].status == 400
    assert refused == []  # only this chat refuses: drafts stay on for others
