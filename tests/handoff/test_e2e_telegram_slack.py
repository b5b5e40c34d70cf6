"""End to end: a Telegram customer, staff in Slack, through the real store, worker, outbox,
handoff service and both real adapters, against the fake Telegram and Slack servers."""

from __future__ import annotations

import asyncio
import io
import itertools
import time

from PIL import Image

from config.handoff import HandoffSettings
from core.texts import text
from tests.adapters.telegram.conftest import host_photo
from tests.fakes.slack_server import PostedMessage, block_actions, event_callback, message_event
from tests.handoff.rig import STAFF_CHANNEL, Rig, eventually, running_kefu

COMPLAINT = "我要投诉，收到的鞋子是坏的"
STAFF_REPLY = "非常抱歉！我们今天给您补发一双新鞋。"


def button_values(rig: Rig) -> list[str]:
    [parent] = rig.parents()
    [actions] = [b for b in parent.blocks if b["type"] == "actions"]
    return [e["value"] for e in actions["elements"]]


async def staff_says(rig: Rig, words: str, thread_ts: str, ts: str, **kwargs: object) -> int:
    event = message_event(
        STAFF_CHANNEL, "USTAFF1", words, ts, channel_type="channel", thread_ts=thread_ts
    )
    status, _ = await rig.staff.post_event(event_callback(event, event_id=f"Ev{ts}"), **kwargs)  # type: ignore[arg-type]
    return status


async def press(
    rig: Rig, value: str, parent_ts: str, user: str, action_ts: str, retry: int | None = None
) -> int:
    index = ["take", "resolve", "return"].index(value.split(":")[1])
    payload = block_actions(
        STAFF_CHANNEL,
        user,
        f"kefu_btn_{index}",
        value,
        parent_ts,
        action_ts=action_ts,
        label="Take",
    )
    payload["user"]["name"] = payload["user"]["username"] = user.lower()
    status, _ = await rig.staff.post_action(payload, retry_num=retry)
    return status


async def complaint_opens_a_staff_thread(rig: Rig) -> tuple[PostedMessage, str]:
    host_photo(rig.tg, "shoe", size=(160, 120))
    assert await rig.customer(rig.tg.updates.photo("shoe", caption=COMPLAINT)) == 200
    await eventually(lambda: len(rig.parents()) == 1 and bool(rig.slack.completed_uploads))
    await rig.idle()
    # The customer is told, in Chinese, that a person will reply and how long it takes.
    assert rig.customer_texts() == [text("handoff_notice", "zh").format(wait=10)]
    assert rig.engine.requests == []  # a complaint never reaches the model
    [parent] = rig.parents()
    assert "Customer: Ada Lovelace (telegram id 42)" in parent.text
    assert "Platform: telegram" in parent.text and "投诉" in parent.text
    assert "Topics: complaint, damaged item" in parent.text
    handoff = button_values(rig)[0].split(":")[2]
    assert button_values(rig) == [f"handoff:{v}:{handoff}" for v in ("take", "resolve", "return")]
    transcript = rig.thread_texts(parent)
    assert any(COMPLAINT in t and "[1 photo(s)]" in t for t in transcript)
    [upload] = rig.slack.completed_uploads
    assert (upload["channel_id"], upload["thread_ts"]) == (STAFF_CHANNEL, parent.ts)
    uploaded = rig.slack.uploads[upload["files"][0]["id"]]
    assert Image.open(io.BytesIO(uploaded)).size == (160, 120)  # the customer's photo
    return parent, handoff


async def follow_up_goes_to_the_thread(rig: Rig, parent: PostedMessage) -> None:
    assert await rig.customer(rig.tg.updates.text("鞋底也开胶了")) == 200
    await eventually(
        lambda: any("Ada Lovelace: 鞋底也开胶了" in t for t in rig.thread_texts(parent))
    )
    assert rig.engine.requests == []  # the bot stays silent during the handoff


async def staff_reply_reaches_the_customer_once(rig: Rig, parent: PostedMessage) -> None:
    assert await staff_says(rig, STAFF_REPLY, parent.ts, "1700009001.000100") == 200
    await eventually(lambda: STAFF_REPLY in rig.customer_texts())
    retried = await staff_says(rig, STAFF_REPLY, parent.ts, "1700009001.000100", retry_num=1)
    assert retried == 200
    await rig.idle()
    assert rig.customer_texts().count(STAFF_REPLY) == 1
    assert "USTAFF1 took this." in rig.thread_texts(parent)  # replying takes it
    assert rig.engine.requests == []  # staff in the thread never get a bot answer


async def return_to_bot_answers_again(rig: Rig, parent: PostedMessage, handoff: str) -> None:
    value = f"handoff:return:{handoff}"
    assert await press(rig, value, parent.ts, "USTAFF1", "1700009100.1") == 200
    await eventually(lambda: text("handoff_returned", "zh") in rig.customer_texts())
    assert await rig.customer(rig.tg.updates.text("这双鞋有42码吗")) == 200
    await eventually(lambda: "Echo: 这双鞋有42码吗" in rig.customer_texts())
    assert len(rig.engine.requests) == 1


async def test_complaint_with_photo_goes_to_staff_and_back() -> None:
    async with running_kefu() as rig:
        parent, handoff = await complaint_opens_a_staff_thread(rig)
        await follow_up_goes_to_the_thread(rig, parent)
        await staff_reply_reaches_the_customer_once(rig, parent)
        await return_to_bot_answers_again(rig, parent, handoff)
        status, exported = await rig.export("telegram|42|")
        assert status == 200
        kinds = [d["kind"] for d in exported["decisions"]]
        assert kinds[0] == "handoff" and {"relay", "take", "return", "answer"} <= set(kinds)
        assert [h["status"] for h in exported["handoffs"]] == ["returned"]
        assert exported["conversation"]["state"] == "bot"
        assert any(t["role"] == "staff" and t["text"] == STAFF_REPLY for t in exported["turns"])


async def test_a_double_click_on_take_acts_once() -> None:
    async with running_kefu() as rig:
        assert await rig.customer(rig.tg.updates.command("/human")) == 200
        await eventually(lambda: len(rig.parents()) == 1)
        [parent] = rig.parents()
        take = button_values(rig)[0]
        statuses = await asyncio.gather(
            press(rig, take, parent.ts, "UALICE", "1700009200.1"),
            press(rig, take, parent.ts, "UBOB", "1700009200.2"),
        )
        assert (
            await press(rig, take, parent.ts, "UALICE", "1700009200.1", retry=1) == 200
        )  # Slack retry
        await rig.idle()
        assert statuses == [200, 200]
        took = [t for t in rig.thread_texts(parent) if t.endswith("took this.")]
        assert len(took) == 1
        assert rig.harness.handoff is not None
        record = await rig.harness.handoff.records.get(int(take.split(":")[2]))
        assert record is not None and record.status == "taken"
        assert took == [f"{record.taken_by} took this."]


async def test_nobody_takes_it_so_the_customer_is_told_and_staff_are_pinged() -> None:
    settings = HandoffSettings(
        target="slack", take_timeout_minutes=0.01, poll_interval_s=0.05
    )  # 0.6 s
    async with running_kefu(settings) as rig:
        assert await rig.customer(rig.tg.updates.text("I want to complain, this is a scam")) == 200
        await eventually(lambda: len(rig.parents()) == 1)
        [parent] = rig.parents()

        def reminders() -> list[str]:
            return [t for t in rig.thread_texts(parent) if "Reminder:" in t]

        await eventually(lambda: len(reminders()) >= 2, within_s=10)  # once per period
        assert reminders()[0].startswith("<!here> Reminder: handoff #")
        assert rig.customer_texts().count(text("handoff_timeout", "en")) == 1  # told once
        times = [
            c.at
            for c in rig.slack.calls_to("chat.postMessage", ok_only=True)
            if "Reminder:" in str(c.params.get("text"))
        ]
        assert all(b - a >= 0.5 for a, b in itertools.pairwise(times))  # one ping per period
        # Once taken, the reminders stop.
        assert await press(rig, button_values(rig)[0], parent.ts, "UALICE", "1700009300.1") == 200
        await eventually(lambda: any(t.endswith("took this.") for t in rig.thread_texts(parent)))
        count = len(reminders())
        await asyncio.sleep(1.0)
        assert len(reminders()) == count


async def test_a_handoff_left_without_a_thread_gets_one_after_restart(tmp_path: object) -> None:
    store_url = f"sqlite+aiosqlite:///{tmp_path}/kefu.db"
    # The first process commits the handoff but stops before any staff thread exists.
    settings = HandoffSettings(target="slack", poll_interval_s=0.1, slack_channel="CNOWHERE")
    async with running_kefu(settings, store_url=store_url) as rig:
        rig.slack.fail("chat.postMessage", "channel_not_found", times=1000)
        assert await rig.customer(rig.tg.updates.text("我要投诉")) == 200
        await rig.idle()
        assert rig.customer_texts() == [text("handoff_notice", "zh").format(wait=10)]
        assert rig.parents() == []
    started = time.monotonic()
    async with running_kefu(store_url=store_url) as rig:
        await eventually(lambda: len(rig.parents()) == 1)
        [parent] = rig.parents()
        assert "我要投诉" in parent.text and time.monotonic() - started < 10
        assert rig.customer_texts() == []  # the new process does not notify the customer again
