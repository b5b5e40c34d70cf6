"""The raw Bot API module: drafts with a stop button, and the update a stop sends."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, Update

from adapters.telegram.botapi import (
    Draft,
    GenerationStopped,
    generation_stopped,
    send_message_draft,
)
from tests.fakes.telegram_server import FakeTelegramServer


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as client:
        yield client


class OlderBot(Bot):
    """A PTB without ``send_message_draft``: the raw request path is used."""

    send_message_draft = None  # type: ignore[assignment]


async def test_a_draft_carries_its_id_text_topic_and_stop_button(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    await send_message_draft(bot, Draft(42, 7, "", can_stop=True))
    await send_message_draft(bot, Draft(42, 7, "half an answer", thread_id=3))
    first, second = tg.calls_of("sendMessageDraft")
    assert first.params == {"chat_id": 42, "draft_id": 7, "text": "", "can_stop": True}
    assert second.params["message_thread_id"] == 3 and "can_stop" not in second.params
    assert "keep_on_stop" not in first.params  # a stopped answer is not kept


async def test_the_raw_request_path_sends_the_same(tg: FakeTelegramServer) -> None:
    async with OlderBot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as older:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await send_message_draft(older, Draft(42, 9, "x", can_stop=True))
    (call,) = tg.calls_of("sendMessageDraft")
    assert call.params == {"chat_id": 42, "draft_id": 9, "text": "x", "can_stop": True}


def test_the_stop_update_is_read_in_both_spellings() -> None:
    body = {"chat": {"id": 42, "type": "private"}, "message_thread_id": 5, "draft_id": 7}
    for name in ("stopped_message_generation", "message_generation_stopped"):
        update = Update.de_json({"update_id": 3, name: body}, None)
        assert generation_stopped(update) == GenerationStopped(3, 42, 5, 7)
    assert generation_stopped(Update.de_json({"update_id": 4}, None)) is None
    broken = {"update_id": 5, "stopped_message_generation": {"chat": {}, "draft_id": "x"}}
    assert generation_stopped(Update.de_json(broken, None)) is None
