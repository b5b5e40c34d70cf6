"""Inbound Slack events through the real bolt app, mounted on aiohttp, into an inbox.

Every request is a real, signed HTTP POST (or a real Socket Mode envelope over a websocket)
against the adapter; the Web API calls bolt and the adapter make go to the fake Slack.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from adapters.slack.inbound import BotIdentity, should_answer
from adapters.slack.payloads import parse_message
from adapters.slack.threads import KnownThreads
from core.model.turn import Command, ConversationKey, Role, TextPart
from tests.adapters.slack.conftest import MemoryInbox, png_bytes
from tests.fakes.slack_server import (
    block_actions,
    event_callback,
    mention_event,
    message_event,
)

BOT = "UKEFUBOT"


async def test_dm_with_image_becomes_one_staff_turn_in_its_thread(serve: Any) -> None:
    s = await serve()
    file = s.fake.add_file(png_bytes((80, 60)), "receipt.png")
    event = message_event(
        "D100", "U1", "what is this &lt;order&gt;?", "1700000001.000100", files=[file]
    )
    status, _ = await s.sender.post_event(event_callback(event))
    assert status == 200
    [turn] = s.inbox.turns
    assert turn.key == ConversationKey("slack", "D100", "1700000001.000100")
    assert turn.message_id == "D100:1700000001.000100"
    assert turn.sender.user_id == "U1" and turn.sender.role is Role.STAFF
    assert turn.text == "what is this <order>?"
    [image] = turn.images
    assert (image.width, image.height, image.mime) == (80, 60, "image/png")
    assert s.fake.file_requests == [
        {"file_id": file["id"], "authorization": f"Bearer {s.fake.bot_token}"}
    ]
    assert turn.timestamp.timestamp() == pytest.approx(1700000001.0001)


async def test_app_mention_in_channel_is_stripped_and_keyed_by_thread(serve: Any) -> None:
    s = await serve()
    event = mention_event("C200", "U2", f"<@{BOT}> where is <#C9|general>?", "1700000002.000100")
    assert (await s.sender.post_event(event_callback(event)))[0] == 200
    [turn] = s.inbox.turns
    assert turn.text == "where is #general?"
    assert turn.key == ConversationKey("slack", "C200", "1700000002.000100")


async def test_slack_retry_of_the_same_event_stores_one_turn(serve: Any) -> None:
    s = await serve()
    body = event_callback(message_event("D100", "U1", "hi", "1700000003.000100"), event_id="Ev1")
    assert (await s.sender.post_event(body))[0] == 200
    assert (await s.sender.post_event(body, retry_num=1))[0] == 200
    assert (await s.sender.post_event(body, retry_num=2))[0] == 200
    assert len(s.inbox.turns) == 1
    assert s.adapter.inbound is not None and s.adapter.inbound.duplicates == 2


async def test_message_and_app_mention_for_one_message_store_one_turn(serve: Any) -> None:
    s = await serve()
    text, ts = f"<@{BOT}> refund?", "1700000004.000100"
    msg = message_event("C300", "U3", text, ts, channel_type="channel")
    assert (await s.sender.post_event(event_callback(msg)))[0] == 200
    assert (await s.sender.post_event(event_callback(mention_event("C300", "U3", text, ts))))[
        0
    ] == 200
    assert [t.message_id for t in s.inbox.turns] == ["C300:1700000004.000100"]


@pytest.mark.parametrize(
    "headers",
    [
        {"signature": "v0=" + "0" * 64},  # wrong signature
        {"signed": False},  # missing headers
        {"timestamp": int(time.time()) - 600},  # outside the ±300 s window (signed correctly)
    ],
    ids=["bad-signature", "unsigned", "stale-timestamp"],
)
async def test_unverified_requests_get_401_and_store_nothing(
    serve: Any, headers: dict[str, Any]
) -> None:
    s = await serve()
    body = event_callback(message_event("D100", "U1", "hi", "1700000005.000100"))
    status, _ = await s.sender.post_event(body, **headers)
    assert status == 401
    assert s.inbox.turns == []


async def test_url_verification_challenge_is_answered(serve: Any) -> None:
    s = await serve()
    status, text = await s.sender.post_event(
        {"type": "url_verification", "challenge": "abc123", "token": "x"}
    )
    assert status == 200 and json.loads(text)["challenge"] == "abc123"


@pytest.mark.parametrize(
    "event",
    [
        message_event("D100", BOT, "my own answer", "1700000006.000100"),
        message_event(
            "D100", "", "a bot", "1700000006.000200", bot_id="B999", subtype="bot_message"
        ),
        message_event("D100", "U1", "edited", "1700000006.000300", subtype="message_changed"),
        message_event("D100", "U1", "", "1700000006.000400", subtype="message_deleted"),
        message_event(
            "C1", "U1", "chatter without a mention", "1700000006.000500", channel_type="channel"
        ),
        message_event(
            "C1",
            "U1",
            "reply in a thread the bot is not in",
            "1700000006.000600",
            channel_type="channel",
            thread_ts="1600000000.000100",
        ),
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "thumbsup",
            "event_ts": "1700000006.0007",
        },
    ],
    ids=["own", "bot", "changed", "deleted", "no-mention", "unknown-thread", "other-event"],
)
async def test_ignored_events_are_acknowledged_without_a_turn(
    serve: Any, event: dict[str, Any]
) -> None:
    s = await serve()
    status, _ = await s.sender.post_event(event_callback(event))
    assert status == 200
    assert s.inbox.turns == []


async def test_thread_replies_are_answered_once_the_bot_is_in_the_thread(serve: Any) -> None:
    s = await serve()
    root = "1700000007.000100"
    await s.sender.post_event(event_callback(mention_event("C400", "U4", f"<@{BOT}> help", root)))
    reply = message_event(
        "C400", "U5", "more details", "1700000007.000200", channel_type="channel", thread_ts=root
    )
    assert (await s.sender.post_event(event_callback(reply)))[0] == 200
    assert [t.text for t in s.inbox.turns] == ["help", "more details"]
    assert {t.key for t in s.inbox.turns} == {ConversationKey("slack", "C400", root)}
    assert s.inbox.turns[1].reply_to == f"C400:{root}"


async def test_thread_started_by_the_bot_via_post_message_is_followed(serve: Any) -> None:
    s = await serve()
    ts = await s.adapter.post_message("C500", "New handoff: customer asks about <refund>")
    assert s.fake.messages[("C500", ts)].text == "New handoff: customer asks about &lt;refund&gt;"
    reply = message_event(
        "C500", "U6", "I'll take it", "1700000008.000200", channel_type="channel", thread_ts=ts
    )
    await s.sender.post_event(event_callback(reply))
    [turn] = s.inbox.turns
    assert turn.key == ConversationKey("slack", "C500", ts)


async def test_html_login_page_is_rejected_and_the_text_is_kept_with_a_note(serve: Any) -> None:
    s = await serve()
    s.fake.serve_login_page = True
    file = s.fake.add_file(png_bytes(), "screenshot.png")
    event = message_event("D100", "U1", "see screenshot", "1700000009.000100", files=[file])
    assert (await s.sender.post_event(event_callback(event)))[0] == 200
    [turn] = s.inbox.turns
    assert turn.images == ()
    assert turn.parts[0] == TextPart("see screenshot")
    note = turn.parts[1]
    assert isinstance(note, TextPart) and file["id"] in note.text and "fetch_failed" in note.text
    assert "HTML" in note.text


async def test_slow_download_is_cut_at_the_ack_budget(serve: Any) -> None:
    s = await serve(ack_budget_s=0.3)
    s.fake.file_delay_s = 1.0
    file = s.fake.add_file(png_bytes(), "slow.png")
    event = message_event("D100", "U1", "slow one", "1700000010.000100", files=[file])
    started = time.monotonic()
    assert (await s.sender.post_event(event_callback(event)))[0] == 200
    assert time.monotonic() - started < 0.9
    [turn] = s.inbox.turns
    assert "acknowledgement budget" in turn.text and file["id"] in turn.text


async def test_non_image_file_becomes_an_unsupported_note(serve: Any) -> None:
    s = await serve()
    file = s.fake.add_file(b"%PDF-1.4 ...", "invoice.pdf", "application/pdf")
    event = message_event("D100", "U1", "", "1700000011.000100", files=[file], subtype="file_share")
    await s.sender.post_event(event_callback(event))
    [turn] = s.inbox.turns
    assert turn.images == () and "invoice.pdf" in turn.text and "not supported" in turn.text
    assert s.fake.file_requests == []  # never downloaded


async def test_store_failure_answers_503_so_slack_retries(serve: Any) -> None:
    inbox = MemoryInbox(fail_next=1)
    s = await serve(inbox=inbox)
    body = event_callback(message_event("D100", "U1", "keep me", "1700000012.000100"))
    status, text = await s.sender.post_event(body)
    assert (status, json.loads(text)) == (503, {"error": "store_error"})
    assert (await s.sender.post_event(body, retry_num=1))[0] == 200
    assert [t.text for t in inbox.turns] == ["keep me"]


async def test_malformed_event_is_a_400_not_a_silent_200(serve: Any) -> None:
    s = await serve()
    event = message_event("D100", "U1", "bad files", "1700000012.000200")
    event["files"] = "not-a-list"
    status, text = await s.sender.post_event(event_callback(event))
    assert (status, json.loads(text)) == (400, {"error": "invalid_input"})
    assert s.inbox.turns == []


async def test_ack_waits_for_the_durable_put(serve: Any) -> None:
    class SlowInbox(MemoryInbox):
        async def put(self, turn):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.3)
            return await super().put(turn)

    s = await serve(inbox=SlowInbox())
    started = time.monotonic()
    status, _ = await s.sender.post_event(
        event_callback(message_event("D100", "U1", "x", "1700000013.000100"))
    )
    assert status == 200 and time.monotonic() - started >= 0.3
    assert len(s.inbox.turns) == 1


async def test_button_click_becomes_a_command_turn_deduped(serve: Any) -> None:
    s = await serve()
    payload = block_actions(
        "C600",
        "U7",
        "kefu_btn_0",
        "human",
        "1700000014.000100",
        thread_ts="1700000014.000001",
        label="Talk to a person",
    )
    assert (await s.sender.post_action(payload))[0] == 200
    assert (await s.sender.post_action(payload))[0] == 200
    [turn] = s.inbox.turns
    assert (turn.command, turn.command_arg) == (Command.HUMAN, "")
    assert turn.key == ConversationKey("slack", "C600", "1700000014.000001")
    assert turn.text == "Talk to a person" and turn.sender.role is Role.STAFF


async def test_malformed_signed_body_is_a_400(serve: Any) -> None:
    s = await serve()
    status, _ = await s.sender.post_raw("{not json", "application/json")
    assert status in (400, 401)
    assert s.inbox.turns == []


async def test_oversized_body_is_refused_before_parsing(serve: Any) -> None:
    s = await serve(max_body_bytes=2_000)
    event = message_event("D100", "U1", "x" * 5_000, "1700000014.500000")
    status, _ = await s.sender.post_event(event_callback(event))
    assert status == 413 and s.inbox.turns == []


async def test_socket_mode_envelope_is_stored_then_acked(serve: Any) -> None:
    s = await serve(mode="socket")
    event = message_event("D100", "U1", "via socket", "1700000015.000100")
    ack = await s.fake.send_envelope(event_callback(event))
    assert set(ack) == {"envelope_id"}
    [turn] = s.inbox.turns
    assert turn.text == "via socket"
    # Slack redelivers an envelope that was not acked in time: still one turn.
    await s.fake.send_envelope(event_callback(event))
    assert len(s.inbox.turns) == 1
    assert [c.method for c in s.fake.calls].count("apps.connections.open") == 1


async def test_socket_mode_does_not_ack_when_the_store_fails(serve: Any) -> None:
    inbox = MemoryInbox(fail_next=1)
    s = await serve(inbox=inbox, mode="socket")
    event = message_event("D100", "U1", "retry me", "1700000016.000100")
    with pytest.raises(TimeoutError):
        await s.fake.send_envelope(event_callback(event), wait_s=1.0)
    await s.fake.send_envelope(event_callback(event))  # Slack's redelivery
    assert [t.text for t in inbox.turns] == ["retry me"]


async def test_should_answer_rules() -> None:
    bot = BotIdentity(BOT, "BKEFU", "T1")
    threads = KnownThreads()
    threads.add("C1", "1.0")

    async def answer(**kwargs: Any) -> bool:
        base = {
            "type": "message",
            "channel": "C1",
            "user": "U1",
            "text": "hi",
            "ts": "2.0",
            "channel_type": "channel",
        }
        return await should_answer(parse_message(base | kwargs), bot, threads)

    assert await answer(channel="D1", channel_type="im")
    assert await answer(text=f"hey <@{BOT}>")
    assert await answer(thread_ts="1.0")
    assert await answer(thread_ts="1.0", subtype="thread_broadcast")
    assert not await answer()
    assert not await answer(thread_ts="9.0")
    assert not await answer(channel="D1", channel_type="im", user=BOT)
    assert not await answer(channel="D1", channel_type="im", bot_id="B1")
    assert not await answer(channel="D1", channel_type="im", subtype="channel_join")
