"""UpdateIngestor details: retrying a journaled album, notices and button answers."""

from __future__ import annotations

import asyncio

from core.model.turn import ContentProblem
from core.texts import text
from tests.adapters.telegram.conftest import WebhookRig, eventually, host_photo


async def test_journaled_album_is_retried_when_the_inbox_fails(webhook_rig: WebhookRig) -> None:
    tg = webhook_rig.tg
    host_photo(tg, "r1")
    host_photo(tg, "r2")
    webhook_rig.inbox.fail_next = 1  # the first flush fails; nobody is waiting on it
    attempts = await webhook_rig.deliver(*tg.updates.album(["r1", "r2"], media_group_id="g5"))
    assert [a.status for a in attempts] == [200, 200]
    await eventually(lambda: len(webhook_rig.inbox.turns) == 1, within_s=6)
    assert len(webhook_rig.inbox.turns[0].images) == 2
    journal = webhook_rig.adapter._journal
    assert journal is not None
    await eventually(lambda: not webhook_rig.adapter._ingestor._background)
    assert await journal.pending() == {}


async def test_unsupported_item_next_to_text_gets_one_notice_and_none_on_redelivery(
    webhook_rig: WebhookRig,
) -> None:
    tg = webhook_rig.tg
    update = tg.updates.video(caption="the zip is broken, see video")
    await webhook_rig.post(update)
    await eventually(lambda: tg.chat_texts(42) == [text("unsupported_content", "en")])
    assert tg.chat_messages(42)[0].reply_to == update["message"]["message_id"]
    await webhook_rig.post(update)
    await asyncio.sleep(0.2)
    assert len(tg.chat_messages(42)) == 1


async def test_notice_language_follows_the_user(webhook_rig: WebhookRig) -> None:
    tg = webhook_rig.tg
    tg.add_file("zh", b"not an image at all")
    zh_user = tg.updates.user(42, language_code="zh-hans")
    await webhook_rig.post(tg.updates.photo("zh", user=zh_user))
    (turn,) = webhook_rig.inbox.turns
    assert turn.problem is ContentProblem.IMAGE_ERROR
    await eventually(lambda: tg.chat_texts(42) == [text("image_unsupported", "zh")])


async def test_repeated_button_press_is_answered_but_stored_once(webhook_rig: WebhookRig) -> None:
    tg = webhook_rig.tg
    update = tg.updates.callback("human")
    await webhook_rig.post(update)
    await webhook_rig.post(update)
    await eventually(lambda: len(tg.calls_of("answerCallbackQuery")) == 2)
    assert len(webhook_rig.inbox.turns) == 1
    unknown = tg.updates.callback("not-a-command")
    await webhook_rig.post(unknown)
    await eventually(lambda: len(tg.calls_of("answerCallbackQuery")) == 3)
    assert len(webhook_rig.inbox.turns) == 1
