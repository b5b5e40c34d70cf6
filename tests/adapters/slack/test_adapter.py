"""SlackAdapter lifecycle and output, against the fake Slack Web API with the real AsyncWebClient."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from adapters.slack.adapter import SlackAdapter
from core.errors import (
    AuthenticationError,
    ConfigError,
    PermanentDeliveryError,
    PlatformError,
    RateLimitedError,
)
from core.media.images import normalise_image
from core.model.turn import Button, Command, ConversationKey, Reply
from core.ports import AdapterContext, OutboundMessage
from tests.adapters.slack.conftest import SIGNING_SECRET, MemoryInbox, png_bytes, slack_settings
from tests.fakes.slack_server import FakeSlack, SlackEventSender, event_callback, message_event

KEY = ConversationKey("slack", "C100", "1700000050.000100")


def outbound(text: str, outbox_id: int = 1, **kwargs: Any) -> OutboundMessage:
    reply_fields = {k: kwargs.pop(k) for k in ("buttons", "images") if k in kwargs}
    return OutboundMessage(outbox_id, Reply(KEY, text, **reply_fields), **kwargs)


async def test_deliver_posts_into_the_thread(serve: Any) -> None:
    s = await serve()
    receipt = await s.adapter.deliver(outbound("Your order ships today."))
    [call] = s.fake.calls_to("chat.postMessage")
    assert call.params["channel"] == "C100" and call.params["thread_ts"] == KEY.thread_id
    assert call.params["text"] == "Your order ships today."
    [posted] = s.fake.thread("C100", KEY.thread_id)
    assert receipt.platform_message_ids == (f"C100:{posted.ts}",)


async def test_429_raises_rate_limited_with_retry_after_then_delivers_once(serve: Any) -> None:
    s = await serve()
    s.fake.rate_limit("chat.postMessage", times=1, retry_after=2)
    with pytest.raises(RateLimitedError) as caught:
        await s.adapter.deliver(outbound("hello"))
    assert caught.value.retry_after == 2.0
    await s.adapter.deliver(outbound("hello", attempt=2))
    assert [m.text for m in s.fake.thread("C100", KEY.thread_id)] == ["hello"]


async def test_long_reply_is_split_and_a_retry_does_not_repeat_sent_pieces(serve: Any) -> None:
    s = await serve()
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 300 for i in range(6))  # ~9,300 chars
    pieces = s.adapter.to_platform(Reply(KEY, text))
    assert len(pieces) == 3 and all(len(p.text) <= 3900 for p in pieces)
    s.fake.rate_limit("chat.postMessage", times=1, retry_after=0.5, after=1)
    with pytest.raises(RateLimitedError):
        await s.adapter.deliver(outbound(text, outbox_id=7))
    assert len(s.fake.thread("C100", KEY.thread_id)) == 1  # the first piece went out
    receipt = await s.adapter.deliver(outbound(text, outbox_id=7, attempt=2))
    posted = s.fake.thread("C100", KEY.thread_id)
    assert [m.text for m in posted] == [p.text for p in pieces]
    assert len(receipt.platform_message_ids) == 3


async def test_stream_ref_draft_is_edited_into_the_final_text_and_overflow_posted(
    serve: Any,
) -> None:
    s = await serve()
    draft_ts = await s.adapter.post_message("C100", "partial…", thread_ts=KEY.thread_id)
    text = "A" * 3000 + " " + "B" * 3000
    receipt = await s.adapter.deliver(outbound(text, stream_ref=f"C100:{draft_ts}"))
    posted = s.fake.thread("C100", KEY.thread_id)
    assert posted[0].ts == draft_ts and posted[0].text == "A" * 3000
    assert posted[0].edits == ["A" * 3000]
    assert [m.text for m in posted[1:]] == ["B" * 3000]
    assert receipt.platform_message_ids[0] == f"C100:{draft_ts}"


async def test_uneditable_draft_falls_back_to_a_new_message(serve: Any) -> None:
    s = await serve()
    await s.adapter.deliver(outbound("final answer", stream_ref="C100:1600000000.000001"))
    [posted] = s.fake.thread("C100", KEY.thread_id)
    assert posted.text == "final answer"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("channel_not_found", PermanentDeliveryError),
        ("not_in_channel", PermanentDeliveryError),
        ("is_archived", PermanentDeliveryError),
        ("internal_error", PlatformError),
        ("invalid_auth", PlatformError),
    ],
)
async def test_web_api_errors_map_to_kefu_errors(
    serve: Any, error: str, expected: type[Exception]
) -> None:
    s = await serve()
    s.fake.fail("chat.postMessage", error)
    with pytest.raises(expected) as caught:
        await s.adapter.deliver(outbound("x"))
    assert type(caught.value) is expected
    assert error in str(caught.value)


async def test_model_output_cannot_ping_the_channel(serve: Any) -> None:
    s = await serve()
    await s.adapter.deliver(outbound("Hey <!channel> & <@U123> <https://evil|click>"))
    [posted] = s.fake.thread("C100", KEY.thread_id)
    assert posted.text == "Hey &lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil|click&gt;"
    assert "<" not in posted.text


async def test_buttons_become_an_actions_block_on_the_last_message(serve: Any) -> None:
    s = await serve()
    buttons = (Button("Talk to a person", Command.HUMAN), Button("Start over", Command.RESET))
    await s.adapter.deliver(outbound("Anything else?", buttons=buttons))
    [posted] = s.fake.thread("C100", KEY.thread_id)
    section, actions = posted.blocks
    assert section == {"type": "section", "text": {"type": "mrkdwn", "text": "Anything else?"}}
    assert [(e["action_id"], e["value"], e["text"]["text"]) for e in actions["elements"]] == [
        ("kefu_btn_0", "human", "Talk to a person"),
        ("kefu_btn_1", "reset", "Start over"),
    ]


async def test_reply_images_are_uploaded_into_the_thread(serve: Any) -> None:
    s = await serve()
    image = normalise_image(png_bytes((30, 20)), caption="customer photo")
    await s.adapter.deliver(outbound("Photo from the customer:", images=(image,)))
    [completed] = s.fake.completed_uploads
    assert completed["channel_id"] == "C100" and completed["thread_ts"] == KEY.thread_id
    [file_ref] = (
        completed["files"]
        if isinstance(completed["files"], list)
        else json.loads(completed["files"])
    )
    assert file_ref["title"] == "customer photo"
    assert s.fake.uploads[file_ref["id"]] == image.data
    assert [m.text for m in s.fake.thread("C100", KEY.thread_id)] == ["Photo from the customer:"]


async def test_upload_image_returns_the_file_id(serve: Any) -> None:
    s = await serve()
    image = normalise_image(png_bytes())
    file_id = await s.adapter.upload_image("C200", None, image, title="receipt")
    assert file_id and s.fake.uploads[file_id] == image.data


async def test_post_message_raw_mrkdwn_and_blocks(serve: Any) -> None:
    s = await serve()
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Handoff for <@U9>"}}]
    ts = await s.adapter.post_message("C300", "Handoff for <@U9>", blocks=blocks, raw_mrkdwn=True)
    message = s.fake.messages[("C300", ts)]
    assert message.text == "Handoff for <@U9>" and message.blocks == blocks


async def test_streaming_preview_is_paced_and_the_final_text_is_complete(serve: Any) -> None:
    s = await serve(stream_update_interval_s=0.2)
    stream = await s.adapter.open_stream(KEY, "C100:1700000050.000100")
    assert stream is not None
    words = [f"w{i}" for i in range(40)]
    for i in range(len(words)):
        await stream.update(" ".join(words[: i + 1]))
        await asyncio.sleep(0.025)  # ~1 s of generation
    await stream.close()
    assert stream.ref is not None
    calls = [c for c in s.fake.calls if c.method in ("chat.postMessage", "chat.update")]
    assert calls[0].method == "chat.postMessage" and len(calls) >= 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 0.18  # at most one Slack call per interval (small clock slack)
    await s.adapter.deliver(outbound(" ".join(words), stream_ref=stream.ref))
    [posted] = s.fake.thread("C100", KEY.thread_id)
    assert posted.text == " ".join(words)


async def test_empty_final_answer_removes_the_draft(serve: Any) -> None:
    s = await serve()
    draft_ts = await s.adapter.post_message("C100", "thinking…", thread_ts=KEY.thread_id)
    receipt = await s.adapter.deliver(outbound("", stream_ref=f"C100:{draft_ts}"))
    assert receipt.platform_message_ids == ()
    assert s.fake.thread("C100", KEY.thread_id) == []


async def test_start_rejects_a_bad_token(fake_slack: FakeSlack) -> None:
    settings = slack_settings(fake_slack, bot_token=SecretStr("xoxb-wrong"))
    adapter = SlackAdapter(AdapterContext(inbox=MemoryInbox(), web=web.Application()), settings)
    with pytest.raises(AuthenticationError):
        await adapter.start()
    await adapter.stop()


@pytest.mark.parametrize(
    ("overrides", "with_web"),
    [
        ({"bot_token": None}, True),
        ({"signing_secret": None}, True),
        ({}, False),
        ({"mode": "socket", "app_token": None}, True),
    ],
    ids=["no-bot-token", "no-signing-secret", "http-without-web", "socket-without-app-token"],
)
async def test_construction_refuses_incomplete_settings(
    fake_slack: FakeSlack, overrides: dict[str, Any], with_web: bool
) -> None:
    settings = slack_settings(fake_slack, **overrides)
    app = web.Application() if with_web else None
    with pytest.raises(ConfigError):
        SlackAdapter(AdapterContext(inbox=MemoryInbox(), web=app), settings)
    assert fake_slack.calls == []


async def test_events_before_the_start_are_refused_for_a_retry(fake_slack: FakeSlack) -> None:
    app = web.Application()
    SlackAdapter(AdapterContext(inbox=MemoryInbox(), web=app), slack_settings(fake_slack))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
        sender = SlackEventSender(url, SIGNING_SECRET)
        payload = event_callback(message_event("D1", "U1", "hello", "1.1"))
        status, _ = await sender.post_event(payload)
        assert status == 503  # Slack delivers the event again
    finally:
        await runner.cleanup()


async def test_socket_mode_start_rejects_a_bad_app_token(serve: Any) -> None:
    with pytest.raises(AuthenticationError):
        await serve(mode="socket", app_token=SecretStr("xapp-wrong"))


def test_capabilities() -> None:
    caps = SlackAdapter.capabilities
    assert (caps.streaming, caps.editing, caps.images, caps.buttons) == (True, True, True, True)
    assert caps.max_message_chars == 3900


async def test_requests_without_fresh_signature_headers_are_refused_unread(serve: Any) -> None:
    served = await serve()
    payload = event_callback(message_event("D1", "U1", "hello", "1.1"))
    assert (await served.sender.post_event(payload, signed=False))[0] == 401
    stale = int(time.time()) - 3600
    assert (await served.sender.post_event(payload, timestamp=stale))[0] == 401
    assert (await served.sender.post_event(payload, signature="v1=abc"))[0] == 401
    assert not served.inbox.turns


async def test_deeply_nested_json_is_a_400(serve: Any) -> None:
    served = await serve()
    body = '{"type": "event_callback", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    status, _ = await served.sender.post_raw(body, "application/json")
    assert status == 400
