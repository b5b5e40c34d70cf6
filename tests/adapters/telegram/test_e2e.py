"""End to end: fake Telegram → real adapter → real store, worker, dispatcher → fake Telegram."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from adapters.telegram.adapter import SECRET_HEADER, TelegramAdapter
from adapters.telegram.outbound import utf16_len
from core.engines.base import GenerationRequest
from core.engines.stub import StubEngine, echo_answer
from core.ports import AdapterContext, Capabilities
from core.texts import text
from tests.adapters.telegram.conftest import (
    WEBHOOK_SECRET,
    assert_paced,
    eventually,
    host_photo,
    tg_settings,
    webhook_settings,
)
from tests.fakes.telegram_server import FakeTelegramServer, deliver_like_telegram
from tests.harness import KefuHarness

INTERVAL = 0.25


class NoStreamTelegramAdapter(TelegramAdapter):
    """The same adapter without live previews, so the final sendMessage is the first call."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=False, editing=True, images=True, buttons=True, max_message_chars=4096
    )


@dataclass
class Kefu:
    harness: KefuHarness
    tg: FakeTelegramServer
    session: aiohttp.ClientSession
    engine: StubEngine

    async def post(self, update: dict[str, Any], secret: str = WEBHOOK_SECRET) -> int:
        url = f"{self.harness.base_url}/telegram/webhook"
        async with self.session.post(url, json=update, headers={SECRET_HEADER: secret}) as response:
            return response.status

    async def idle(self) -> None:
        await self.harness.wait_until_idle(timeout=20)

    async def inbox_rows(self) -> int:
        assert self.harness.store is not None
        counts = await self.harness.store.counts()
        return sum(n for name, n in counts.items() if name.startswith("inbox."))

    def final_answer(self) -> str:
        return echo_answer(self.engine.requests[-1]).strip()


@asynccontextmanager
async def kefu(
    tg: FakeTelegramServer,
    engine: StubEngine | None = None,
    mode: str = "webhook",
    adapter_cls: type[TelegramAdapter] = TelegramAdapter,
    **overrides: Any,
) -> AsyncIterator[Kefu]:
    overrides.setdefault("stream_edit_interval_s", INTERVAL)
    with tempfile.TemporaryDirectory(prefix="kefu-tg-") as folder:
        if mode == "webhook":
            overrides.setdefault("album_journal_path", str(Path(folder) / "albums.db"))
            settings = webhook_settings(tg, **overrides)
        else:
            settings = tg_settings(tg, **overrides)
        engine = engine or StubEngine(token_delay_s=0.02)

        def factory(context: AdapterContext) -> TelegramAdapter:
            return adapter_cls(context, settings)

        async with (
            KefuHarness(engine=engine, adapters={"telegram": factory}) as harness,
            aiohttp.ClientSession() as session,
        ):
            yield Kefu(harness, tg, session, engine)


def words(count: int) -> Callable[[GenerationRequest], str]:
    return lambda _request: " ".join(f"word{i}" for i in range(count))


async def test_photo_with_caption_gets_one_turn_and_one_reply(tg: FakeTelegramServer) -> None:
    host_photo(tg, "ph", size=(160, 120))
    async with kefu(tg) as k:
        assert await k.post(tg.updates.photo("ph", caption="Is this in stock?")) == 200
        await k.idle()
        assert await k.inbox_rows() == 1
        (request,) = k.engine.requests
        (image,) = request.messages[-1].images
        assert (image.width, image.height, image.caption) == (160, 120, "Is this in stock?")
        assert tg.chat_texts(42) == [k.final_answer()]


async def test_three_photo_album_gets_one_turn_and_one_reply(tg: FakeTelegramServer) -> None:
    for file_id in ("a1", "a2", "a3"):
        host_photo(tg, file_id)
    async with kefu(tg) as k:
        album = tg.updates.album(["a1", "a2", "a3"], caption="which one?", media_group_id="55")
        url = f"{k.harness.base_url}/telegram/webhook"
        attempts = await deliver_like_telegram(k.session, url, WEBHOOK_SECRET, album)
        assert [a.status for a in attempts] == [200, 200, 200]
        await eventually(lambda: bool(k.engine.requests), within_s=10)
        await k.idle()
        assert await k.inbox_rows() == 1
        (request,) = k.engine.requests
        assert len(request.messages[-1].images) == 3
        assert k.final_answer().endswith("[3 image(s)]")
        assert tg.chat_texts(42) == [k.final_answer()]


async def test_duplicate_webhook_delivery_gets_one_reply(tg: FakeTelegramServer) -> None:
    async with kefu(tg) as k:
        update = tg.updates.text("hello twice")
        assert [await k.post(update), await k.post(update)] == [200, 200]
        await k.idle()
        assert await k.inbox_rows() == 1
        assert tg.chat_texts(42) == ["Echo: hello twice"]


async def test_duplicate_polling_delivery_gets_one_reply(tg: FakeTelegramServer) -> None:
    async with kefu(tg, mode="polling") as k:
        update = tg.updates.text("hello from polling")
        tg.enqueue(update)
        await eventually(lambda: tg.chat_texts(42) == ["Echo: hello from polling"], within_s=10)
        tg.enqueue(update)  # redelivered (as after a restart before the offset moved)
        await eventually(lambda: tg.pending_updates == [], within_s=5)
        await k.idle()
        assert await k.inbox_rows() == 1
        assert tg.chat_texts(42) == ["Echo: hello from polling"]


async def test_bad_secret_is_403_and_nothing_is_stored(tg: FakeTelegramServer) -> None:
    async with kefu(tg) as k:
        assert await k.post(tg.updates.text("let me in"), secret="guess") == 403
        await k.idle()
        assert await k.inbox_rows() == 0
        assert tg.chat_messages(42) == []


async def test_429_on_send_message_is_waited_out_and_delivered_once(tg: FakeTelegramServer) -> None:
    async with kefu(tg, adapter_cls=NoStreamTelegramAdapter) as k:
        tg.fail_next("sendMessage", count=1, retry_after=1)
        await k.post(tg.updates.text("busy day"))
        await k.idle()
        limited, delivered = tg.calls_of("sendMessage")
        assert limited.status == 429 and delivered.status == 200
        assert delivered.at - limited.at >= 1.0 - 0.03
        assert tg.chat_texts(42) == ["Echo: busy day"]


async def test_streaming_is_paced_and_ends_with_the_full_answer(tg: FakeTelegramServer) -> None:
    engine = StubEngine(words(60), token_delay_s=0.03)  # ~1.8 s of tokens
    async with kefu(tg, engine, drafts=False) as k:  # the fallback: paced edits
        await k.post(tg.updates.text("tell me everything"))
        await k.idle()
        calls = [
            c
            for c in tg.calls
            if c.method in ("sendMessage", "editMessageText") and c.status == 200
        ]
        times = sorted(c.at for c in calls)
        assert len(tg.calls_of("editMessageText")) >= 3  # it really streamed
        assert_paced(times, INTERVAL)
        (message,) = tg.chat_messages(42)
        assert message.text == words(60)(None)  # type: ignore[arg-type]
        assert message.reply_markup == {
            "inline_keyboard": [[{"text": text("talk_to_person", "en"), "callback_data": "human"}]]
        }
        assert tg.calls_of("sendChatAction")


async def test_retry_after_while_streaming_does_not_truncate_the_answer(
    tg: FakeTelegramServer,
) -> None:
    engine = StubEngine(words(40), token_delay_s=0.03)
    async with kefu(tg, engine, drafts=False) as k:
        tg.fail_next("editMessageText", count=1, retry_after=1, after=1)
        await k.post(tg.updates.text("go"))
        await k.idle()
        assert any(c.status == 429 for c in tg.calls_of("editMessageText"))
        assert tg.chat_texts(42) == [words(40)(None)]  # type: ignore[arg-type]


async def test_long_reply_is_split_under_the_limit(tg: FakeTelegramServer) -> None:
    long_words = " ".join(f"sentence{i}-{'x' * 30}" for i in range(200))  # ~8,300 characters
    engine = StubEngine(lambda _request: long_words, token_delay_s=0)
    async with kefu(tg, engine) as k:
        await k.post(tg.updates.text("the long version please"))
        await k.idle()
        texts = tg.chat_texts(42)
        assert len(texts) == 3
        assert all(utf16_len(t) <= 4096 for t in texts)
        assert " ".join(texts) == long_words  # split at spaces, nothing lost
        assert [m.reply_markup is not None for m in tg.chat_messages(42)] == [False, False, True]


async def test_group_chat_without_mention_gets_no_answer(tg: FakeTelegramServer) -> None:
    async with kefu(tg) as k:
        assert await k.post(tg.updates.group_text("who wants pizza?")) == 200
        await k.idle()
        assert await k.inbox_rows() == 0 and k.engine.requests == []
        assert tg.chat_messages(-100123) == []
        await k.post(tg.updates.group_text("do you deliver on Sunday?", mention=True))
        await k.idle()
        assert tg.chat_texts(-100123) == ["Echo: do you deliver on Sunday?"]


async def test_unsupported_content_gets_a_polite_reply_without_the_model(
    tg: FakeTelegramServer,
) -> None:
    async with kefu(tg) as k:
        await k.post(tg.updates.voice())
        await k.idle()
        assert k.engine.requests == []
        assert tg.chat_texts(42) == [text("unsupported_content", "en")]


async def test_start_gets_the_greeting(tg: FakeTelegramServer) -> None:
    async with kefu(tg) as k:
        await k.post(tg.updates.command("/start"))
        await k.idle()
        assert k.engine.requests == []
        assert tg.chat_texts(42) == [text("greeting", "en")]


async def test_button_press_is_the_human_command(tg: FakeTelegramServer) -> None:
    async with kefu(tg) as k:
        update = tg.updates.callback("human")
        await k.post(update)
        await k.idle()
        assert k.engine.requests == []
        (reply,) = tg.chat_texts(42)
        # This kefu has no staff desk: the customer is told how to reach the shop instead.
        assert reply == text("handoff_unavailable_no_contact", "en")
        answered = tg.calls_of("answerCallbackQuery")
        assert [c.params["callback_query_id"] for c in answered] == [update["callback_query"]["id"]]


async def test_unreadable_photo_is_stored_and_the_customer_is_told(tg: FakeTelegramServer) -> None:
    tg.add_file("broken", b"GIF89a but not really")
    async with kefu(tg) as k:
        await k.post(tg.updates.photo("broken", caption="this is my receipt"))
        await k.idle()
        assert await k.inbox_rows() == 1
        (request,) = k.engine.requests  # the caption still reaches the model
        assert "this is my receipt" in request.messages[-1].content_text
        assert "[photo could not be read:" in request.messages[-1].content_text
        notice = text("image_unsupported", "en")
        await eventually(lambda: notice in tg.chat_texts(42))
        assert len(tg.chat_texts(42)) == 2  # the notice and the answer to the caption
