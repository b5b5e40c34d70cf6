"""TelegramAdapter in webhook mode (served on aiohttp) with an in-memory inbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from pydantic import SecretStr

from adapters.telegram.adapter import ALLOWED_UPDATES, TelegramAdapter
from adapters.telegram.drafts import TelegramDraftStream
from adapters.telegram.streaming import TelegramReplyStream
from core.errors import ConfigError, PermanentDeliveryError
from core.model.turn import Button, Command, ContentProblem, ConversationKey, Reply, TextPart
from core.ports import AdapterContext, OutboundMessage
from core.texts import text
from tests.adapters.telegram.conftest import (
    WEBHOOK_SECRET,
    MemoryInbox,
    WebhookRig,
    eventually,
    host_photo,
    tg_settings,
    webhook_settings,
)
from tests.fakes.telegram_server import FakeTelegramServer


async def test_set_webhook_has_secret_and_allowed_updates_and_never_drops(
    webhook_rig: WebhookRig,
) -> None:
    (call,) = webhook_rig.tg.calls_of("setWebhook")
    assert call.params["url"] == "https://kefu.example.com/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert call.params["allowed_updates"] == list(ALLOWED_UPDATES)
    assert {"business_message", "stopped_message_generation"} <= set(ALLOWED_UPDATES)
    assert "drop_pending_updates" not in call.params
    assert webhook_rig.tg.calls_of("deleteWebhook") == []


async def test_good_secret_stores_the_turn(webhook_rig: WebhookRig) -> None:
    response = await webhook_rig.post(webhook_rig.tg.updates.text("hello"))
    assert response.status == 200
    (turn,) = webhook_rig.inbox.turns
    assert turn.text == "hello" and turn.key == ConversationKey("telegram", "42")


@pytest.mark.parametrize("secret", ["wrong", "", None, "s3cr3t-Token_for-test"])
async def test_bad_or_missing_secret_is_403_and_nothing_is_stored(
    webhook_rig: WebhookRig, secret: str | None
) -> None:
    host_photo(webhook_rig.tg, "ph")
    response = await webhook_rig.post(
        webhook_rig.tg.updates.photo("ph", caption="hi"), secret=secret
    )
    assert response.status == 403
    assert webhook_rig.inbox.turns == []
    assert webhook_rig.tg.calls_of("getFile") == []


async def test_response_waits_until_the_turn_is_durable(webhook_rig: WebhookRig) -> None:
    webhook_rig.inbox.delay_s = 0.3
    loop = asyncio.get_running_loop()
    await webhook_rig.post(webhook_rig.tg.updates.text("slow disk"))
    answered_at = loop.time()
    assert webhook_rig.inbox.stored_at[0] <= answered_at
    assert len(webhook_rig.inbox.turns) == 1


async def test_store_failure_is_503_and_the_redelivery_is_stored(webhook_rig: WebhookRig) -> None:
    update = webhook_rig.tg.updates.text("please keep me")
    webhook_rig.inbox.fail_next = 1
    assert (await webhook_rig.post(update)).status == 503
    assert webhook_rig.inbox.turns == []
    assert (await webhook_rig.post(update)).status == 200  # Telegram retries
    assert [t.text for t in webhook_rig.inbox.turns] == ["please keep me"]


async def test_duplicate_delivery_is_stored_once(webhook_rig: WebhookRig) -> None:
    update = webhook_rig.tg.updates.text("twice?")
    statuses = [(await webhook_rig.post(update)).status for _ in range(2)]
    assert statuses == [200, 200]
    assert len(webhook_rig.inbox.turns) == 1 and webhook_rig.inbox.duplicates == 1


async def test_malformed_body_is_400(webhook_rig: WebhookRig) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-Token_for-tests"}
    async with webhook_rig.session.post(
        webhook_rig.url, data=b"{not json", headers=headers
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_input"


async def test_deeply_nested_body_is_400_not_500(webhook_rig: WebhookRig) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-Token_for-tests"}
    body = b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with webhook_rig.session.post(webhook_rig.url, data=body, headers=headers) as response:
        assert response.status == 400
    assert not webhook_rig.inbox.turns


async def test_oversized_body_is_413_before_it_is_read(webhook_rig: WebhookRig) -> None:
    host, port = webhook_rig.url.removeprefix("http://").split("/", 1)[0].split(":")
    path = "/" + webhook_rig.url.removeprefix("http://").split("/", 1)[1]
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: s3cr3t-Token_for-tests\r\n"
            f"Content-Length: {29 * 1024 * 1024}\r\n\r\n")  # fmt: skip
    writer.write(head.encode() + b"{" * 1024)  # the rest never comes
    await writer.drain()
    async with asyncio.timeout(3):
        status_line = await reader.readline()
    writer.close()
    assert b" 413 " in status_line


async def test_album_delivered_like_telegram_is_journaled_acked_and_merged(
    webhook_rig: WebhookRig,
) -> None:
    tg = webhook_rig.tg
    for file_id in ("a1", "a2", "a3"):
        host_photo(tg, file_id, size=(80, 60))
    album = tg.updates.album(["a1", "a2", "a3"], caption="which one fits?", media_group_id="g1")
    attempts = await webhook_rig.deliver(*album)  # one chat: item 2 only after item 1 got 200
    assert [a.status for a in attempts] == [200, 200, 200]
    assert webhook_rig.inbox.turns == []  # acknowledged once journaled, stored after the debounce
    await eventually(lambda: len(webhook_rig.inbox.turns) == 1)
    (turn,) = webhook_rig.inbox.turns
    ids = "+".join(str(u["message"]["message_id"]) for u in album)
    assert turn.message_id == f"42:album:g1:{ids}"
    assert [(i.width, i.height) for i in turn.images] == [(80, 60)] * 3
    assert turn.images[0].caption == "which one fits?"
    assert sorted(c.params["file_id"] for c in tg.calls_of("getFile")) == ["a1", "a2", "a3"]
    journal = webhook_rig.adapter._journal
    assert journal is not None
    await eventually(lambda: not webhook_rig.adapter._ingestor._background)
    assert await journal.pending() == {}
    assert (await webhook_rig.post(album[1])).status == 200  # a redelivered item: duplicate
    await asyncio.sleep(0.4)
    assert len(webhook_rig.inbox.turns) == 1


async def test_journaled_album_survives_a_crash_in_the_debounce_window(
    serve_webhook: Callable[..., Awaitable[WebhookRig]],
) -> None:
    first = await serve_webhook(album_debounce_s=5)
    tg = first.tg
    for file_id in ("c1", "c2"):
        host_photo(tg, file_id)
    album = tg.updates.album(["c1", "c2"], caption="damaged box", media_group_id="g9")
    assert [a.status for a in await first.deliver(*album)] == [200, 200]
    await first.adapter._ingestor._albums.close()  # the process dies: memory is gone
    await first.adapter.stop()
    assert first.inbox.turns == []
    second = await serve_webhook()  # restart with the same journal and inbox
    await eventually(lambda: len(second.inbox.turns) == 1)
    (turn,) = second.inbox.turns
    ids = "+".join(str(u["message"]["message_id"]) for u in album)
    assert turn.message_id == f"42:album:g9:{ids}" and len(turn.images) == 2
    assert turn.text == "damaged box"


async def test_album_journal_failure_is_503(webhook_rig: WebhookRig) -> None:
    host_photo(webhook_rig.tg, "j1")
    journal = webhook_rig.adapter._journal
    assert journal is not None
    await journal.close()
    response = await webhook_rig.post(webhook_rig.tg.updates.album(["j1"], media_group_id="g2")[0])
    assert response.status == 503
    await asyncio.sleep(0.4)
    assert webhook_rig.inbox.turns == []


async def test_without_journal_each_album_request_waits_for_the_merged_turn(
    serve_webhook: Callable[..., Awaitable[WebhookRig]],
) -> None:
    rig = await serve_webhook(album_journal_path=None)
    for file_id in ("b1", "b2", "b3"):
        host_photo(rig.tg, file_id)
    album = rig.tg.updates.album(["b1", "b2", "b3"], media_group_id="g3")
    loop = asyncio.get_running_loop()
    answered: list[float] = []

    async def post(update: dict[str, object]) -> int:
        response = await rig.post(update)
        answered.append(loop.time())
        return response.status

    assert await asyncio.gather(*(post(u) for u in album)) == [200, 200, 200]
    (turn,) = rig.inbox.turns
    assert len(turn.images) == 3
    assert all(rig.inbox.stored_at[0] <= t for t in answered)


async def test_group_chatter_is_not_stored_but_mentions_are(webhook_rig: WebhookRig) -> None:
    tg = webhook_rig.tg
    assert (await webhook_rig.post(tg.updates.group_text("lunch anyone?"))).status == 200
    assert webhook_rig.inbox.turns == []
    await webhook_rig.post(tg.updates.group_text("do you ship to Macau?", mention=True))
    (turn,) = webhook_rig.inbox.turns
    assert turn.text == "do you ship to Macau?" and turn.key.chat_id == "-100123"


async def test_button_press_is_stored_as_human_and_answered(webhook_rig: WebhookRig) -> None:
    update = webhook_rig.tg.updates.callback("human")
    await webhook_rig.post(update)
    (turn,) = webhook_rig.inbox.turns
    assert (
        turn.command is Command.HUMAN
        and turn.message_id == f"callback:{update['callback_query']['id']}"
    )
    await eventually(lambda: len(webhook_rig.tg.calls_of("answerCallbackQuery")) == 1)
    assert (
        webhook_rig.tg.calls_of("answerCallbackQuery")[0].params["callback_query_id"]
        == update["callback_query"]["id"]
    )


async def test_corrupt_photo_keeps_caption_and_tells_the_customer_once(
    webhook_rig: WebhookRig,
) -> None:
    tg = webhook_rig.tg
    tg.add_file("broken", b"\xff\xd8\xff\xe0 not really a jpeg")
    update = tg.updates.photo("broken", caption="my order screenshot")
    await webhook_rig.post(update)
    (turn,) = webhook_rig.inbox.turns
    assert turn.parts == (
        TextPart("my order screenshot"),
        TextPart("[photo could not be read: invalid_image]"),
    )
    assert turn.command is None
    await eventually(lambda: tg.chat_texts(42) == [text("image_invalid", "en")])
    await webhook_rig.post(update)  # redelivered: duplicate, no second notice
    await asyncio.sleep(0.1)
    assert tg.chat_texts(42) == [text("image_invalid", "en")]


async def test_unsupported_content_is_stored_as_a_command(webhook_rig: WebhookRig) -> None:
    await webhook_rig.post(webhook_rig.tg.updates.sticker())
    (turn,) = webhook_rig.inbox.turns
    assert turn.command is None and turn.problem is ContentProblem.UNSUPPORTED
    assert webhook_rig.tg.chat_messages(42) == []  # the core answers it, not the adapter


async def test_open_stream_and_deliver_edge_cases(webhook_rig: WebhookRig) -> None:
    adapter = webhook_rig.adapter
    assert await adapter.open_stream(ConversationKey("slack", "C1"), None) is None
    stream = await adapter.open_stream(ConversationKey("telegram", "42"), "42:7")
    assert isinstance(stream, TelegramDraftStream)  # a private chat: a native draft
    await stream.close()
    group = await adapter.open_stream(ConversationKey("telegram", "-100123"), None)
    assert isinstance(group, TelegramReplyStream)  # groups keep the paced edits
    await group.close()
    bad = Reply(
        ConversationKey("telegram", "42"), "hi", buttons=(Button("x", Command.TAKE, "9" * 80),)
    )
    with pytest.raises(PermanentDeliveryError):
        await adapter.deliver(OutboundMessage(1, bad))


async def test_the_token_is_redacted_from_logs_while_running(
    webhook_rig: WebhookRig, caplog: pytest.LogCaptureFixture
) -> None:
    host_photo(webhook_rig.tg, "ph")
    with caplog.at_level(logging.DEBUG):
        await webhook_rig.post(webhook_rig.tg.updates.photo("ph"))
    assert len(webhook_rig.inbox.turns[0].images) == 1
    assert all(webhook_rig.tg.token not in r.getMessage() for r in caplog.records)


async def test_configuration_errors(tg: FakeTelegramServer, inbox: MemoryInbox) -> None:
    with pytest.raises(ConfigError, match="BOT_TOKEN"):
        TelegramAdapter(AdapterContext(inbox=inbox), tg_settings(tg, bot_token=None))
    no_secret = webhook_settings(tg, webhook_secret=None)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        TelegramAdapter(AdapterContext(inbox=inbox, web=web.Application()), no_secret)
    with pytest.raises(ConfigError, match="HTTP server"):
        TelegramAdapter(AdapterContext(inbox=inbox), webhook_settings(tg))
    # A process that only delivers needs no webhook settings, and registers no route.
    deliver_only = AdapterContext(inbox=inbox, web=web.Application(), receive=False)
    TelegramAdapter(deliver_only, no_secret)
    assert deliver_only.web is not None and not list(deliver_only.web.router.routes())
    wrong_token = tg_settings(tg, bot_token=SecretStr("999:wrong"))
    with pytest.raises(ConfigError, match="getMe"):
        await TelegramAdapter(AdapterContext(inbox=inbox), wrong_token).start()


def test_webhook_url_keeps_an_explicit_path(tg: FakeTelegramServer, inbox: MemoryInbox) -> None:
    explicit = webhook_settings(tg, webhook_url="https://x.example/hooks/tg-123")
    adapter = TelegramAdapter(AdapterContext(inbox=inbox, web=web.Application()), explicit)
    assert adapter.webhook_url() == "https://x.example/hooks/tg-123"
    assert TelegramAdapter.capabilities.max_message_chars == 4096
    assert TelegramAdapter.capabilities.streaming and TelegramAdapter.capabilities.buttons


async def test_the_token_is_redacted_from_construction_on(
    tg: FakeTelegramServer, inbox: MemoryInbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        adapter = TelegramAdapter(AdapterContext(inbox=inbox, receive=False), tg_settings(tg))
        await adapter.start()
        await adapter.stop()
    messages = [record.getMessage() for record in caplog.records]
    assert any("Set Bot API URL" in m for m in messages)
    assert [m for m in messages if tg.token in m] == []
