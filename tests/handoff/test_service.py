"""The handoff service: drafts in threads, retries without repeats, the webhook helpdesk."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from pydantic import SecretStr

import main
from adapters.slack.settings import SlackSettings
from adapters.webhook.helpdesk import WebhookDesk
from config.handoff import HandoffSettings
from core.engines.stub import StubEngine
from core.errors import ConfigError, PermanentDeliveryError
from core.handoff.service import HandoffService
from core.model.turn import ConversationKey, Reply, ReplyKind
from core.ports import Bell, OutboundMessage
from core.store.store import Store
from tests.adapters.slack.conftest import slack_settings
from tests.adapters.telegram.conftest import host_photo
from tests.fakes.callback_receiver import CallbackReceiver
from tests.fakes.slack_server import FakeSlack
from tests.handoff.rig import eventually, running_kefu

SECRET = "whsec_" + base64.b64encode(b"helpdesk-secret-key-0123456789").decode()


@pytest.fixture
async def fake_slack_settings() -> AsyncIterator[SlackSettings]:
    async with FakeSlack() as fake:
        yield slack_settings(fake, staff_channel="CSTAFF")


async def test_a_low_confidence_draft_is_shown_to_staff_as_a_suggestion() -> None:
    engine = StubEngine(lambda _r: "Maybe size 42 fits you", logprob=-4.0)
    async with running_kefu(engine=engine) as rig:
        assert await rig.customer(rig.tg.updates.text("will size 42 fit a wide foot")) == 200
        await eventually(lambda: len(rig.parents()) == 1)
        [parent] = rig.parents()
        await eventually(lambda: len(rig.thread_texts(parent)) == 2)
        transcript, draft = rig.thread_texts(parent)
        assert "will size 42 fit a wide foot" in transcript
        assert (
            draft
            == "Bot's draft answer (a suggestion, NOT sent to the customer):\nMaybe size 42 fits you"
        )
        assert "confidence" in parent.text  # the reason names the low score
        await rig.idle()
        assert "Maybe size 42 fits you" not in " ".join(rig.customer_texts())


async def test_a_rate_limited_thread_is_finished_without_a_second_parent() -> None:
    async with running_kefu() as rig:
        rig.slack.rate_limit("chat.postMessage", times=1, retry_after=0.2, after=1)
        assert await rig.customer(rig.tg.updates.command("/human")) == 200
        await eventually(
            lambda: len(rig.parents()) == 1 and len(rig.thread_texts(rig.parents()[0])) == 1
        )
        await rig.idle()
        limited = [c for c in rig.slack.calls_to("chat.postMessage") if c.status == 429]
        assert len(limited) == 1 and len(rig.parents()) == 1
        assert rig.thread_texts(rig.parents()[0])[0].startswith("Transcript")


async def test_a_relay_retried_after_a_429_posts_its_text_once(tmp_path: object) -> None:
    async with running_kefu() as rig:
        assert await rig.customer(rig.tg.updates.command("/human")) == 200
        await eventually(lambda: len(rig.parents()) == 1)
        await rig.idle()
        [parent] = rig.parents()
        rig.slack.rate_limit("files.getUploadURLExternal", times=1, retry_after=0.2)
        host_photo(rig.tg, "sole", size=(90, 60))
        assert await rig.customer(rig.tg.updates.photo("sole", caption="the sole too")) == 200
        await eventually(lambda: len(rig.slack.completed_uploads) == 1)
        await rig.idle()
        relayed = [t for t in rig.thread_texts(parent) if "the sole too" in t]
        assert relayed == ["Ada Lovelace: the sole too [1 photo(s) below]"]
        [upload] = rig.slack.completed_uploads
        image = rig.slack.uploads[upload["files"][0]["id"]]
        assert Image.open(io.BytesIO(image)).size == (90, 60) and upload["thread_ts"] == parent.ts


async def test_handoffs_can_go_to_a_webhook_helpdesk() -> None:
    async with CallbackReceiver(SECRET) as helpdesk:
        settings = HandoffSettings(
            target="webhook",
            helpdesk_url=helpdesk.url,
            helpdesk_secret=SecretStr(SECRET),
            poll_interval_s=0.1,
        )
        async with running_kefu(settings) as rig:
            host_photo(rig.tg, "shoe", size=(64, 48))
            assert (
                await rig.customer(rig.tg.updates.photo("shoe", caption="我要投诉，鞋子坏了"))
                == 200
            )
            [opened] = await helpdesk.wait_for(1)
            helpdesk.fail_next(1, status=500)
            assert await rig.customer(rig.tg.updates.text("还在吗？")) == 200
            calls = await helpdesk.wait_for(3)
            await rig.idle()
        assert opened.verified and opened.webhook_id == "handoff_1_opened"
        body = opened.body
        assert body["type"] == "handoff.opened" and body["customer"]["platform"] == "telegram"
        assert body["customer"]["user_id"] == "42" and body["customer"]["name"] == "Ada Lovelace"
        assert "投诉" in body["handoff"]["reason"] and "complaint" in body["summary"]["topics"]
        [entry] = body["transcript"]
        assert entry["text"] == "我要投诉，鞋子坏了" and entry["role"] == "customer"
        photo = base64.b64decode(entry["images"][0]["data_base64"])
        assert Image.open(io.BytesIO(photo)).size == (64, 48) and body["draft"] is None
        failed, retried = calls[1], calls[2]
        assert failed.answered == 500 and retried.answered == 200
        assert failed.webhook_id == retried.webhook_id  # stable idempotency key across retries
        assert retried.body["type"] == "handoff.message"
        assert retried.body["message"]["text"] == "还在吗？"
        assert rig.parents() == []  # nothing went to Slack


async def test_misconfigured_desks_refuse_to_start(fake_slack_settings: SlackSettings) -> None:
    cases = (
        (
            HandoffSettings(target="slack"),
            {"slack": fake_slack_settings.model_copy(update={"staff_channel": None})},
        ),
        (HandoffSettings(target="webhook", helpdesk_url="http://x"), {}),
        (
            HandoffSettings(
                target="webhook", helpdesk_url="http://x", helpdesk_secret=SecretStr("not base64!")
            ),
            {},
        ),
        (HandoffSettings(target="telegram"), {}),  # a platform without a desk
        (HandoffSettings(target="nowhere"), {}),
    )
    for handoff, platforms in cases:
        settings = main.load_settings(handoff=handoff, **platforms)
        adapters = {"slack": object()} if "slack" in platforms else {}
        with pytest.raises(ConfigError):
            main.build_desks(settings, adapters)  # type: ignore[arg-type]


def test_the_slack_target_without_the_slack_adapter_runs_without_a_desk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        slack = HandoffSettings(target="slack")
        assert main.build_desks(main.load_settings(handoff=slack), {}) == []
    assert "Slack adapter" in caplog.text
    assert main.build_desks(main.load_settings(handoff=HandoffSettings(enabled=False)), {}) == []


async def test_the_desk_rejects_what_it_cannot_deliver(tmp_path: object) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/kefu.db")
    try:
        desk = WebhookDesk("http://127.0.0.1:9/", SECRET)
        service = HandoffService(store, [desk], Bell())
        for chat in ("not-a-number", "999"):
            message = OutboundMessage(
                1, Reply(ConversationKey("handoff", chat), "hi", ReplyKind.RELAY)
            )
            with pytest.raises(PermanentDeliveryError):
                await service.deliver(message)
        with pytest.raises(ConfigError):
            HandoffService(store, [], Bell())
        with pytest.raises(ConfigError):
            HandoffService(store, [desk, desk], Bell())
        await desk.stop()
    finally:
        await store.close()


async def test_a_thread_that_cannot_be_opened_is_retried_with_backoff() -> None:
    settings = HandoffSettings(target="slack", poll_interval_s=0.05)
    async with running_kefu(settings) as rig:
        rig.slack.fail("chat.postMessage", "channel_not_found", times=1000)
        assert await rig.customer(rig.tg.updates.command("/human")) == 200
        await eventually(lambda: len(rig.slack.calls_to("chat.postMessage")) == 1)
        await asyncio.sleep(1.0)  # 20 polls; the next try is due only after 2 s
        assert len(rig.slack.calls_to("chat.postMessage")) == 1
        assert rig.harness.handoff is not None
        [record] = await rig.harness.handoff.records.unopened()  # still waiting for a thread
        assert record.staff_ref is None
