"""End to end on Slack's native paths: streaming (and its fallback after Slack closes a stream),
the thread status, suggested prompts, and feedback buttons stored and exported as cases."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adapters.slack.adapter import SlackAdapter
from bench.eval.cases import load_cases
from core.engines.base import GenerationRequest
from core.engines.stub import StubEngine
from core.feedback.export import export_feedback
from core.ports import AdapterContext
from core.store.schema import feedback
from tests.adapters.slack.conftest import SIGNING_SECRET, slack_settings
from tests.fakes.slack_server import (
    FakeSlack,
    SlackEventSender,
    assistant_thread_started,
    event_callback,
    feedback_click,
    mention_event,
    message_event,
)
from tests.harness import KefuHarness

BOT = "UKEFUBOT"
WORDS = " ".join(f"word{i}" for i in range(40))


class Kefu:
    def __init__(self, harness: KefuHarness, fake: FakeSlack) -> None:
        self.harness, self.fake = harness, fake
        self.sender = SlackEventSender(f"{harness.base_url}/slack/events", SIGNING_SECRET)

    async def idle(self) -> None:
        await self.harness.wait_until_idle(timeout=20)

    async def ask(self, channel: str, text: str, ts: str, mention: bool = False) -> None:
        if mention:
            event = mention_event(channel, "U2", f"<@{BOT}> {text}", ts)
        else:
            event = message_event(channel, "U1", text, ts)
        assert (await self.sender.post_event(event_callback(event)))[0] == 200


@pytest.fixture
async def kefu_factory(fake_slack: FakeSlack) -> AsyncIterator[Callable[..., Any]]:
    harnesses: list[KefuHarness] = []

    async def start(engine: StubEngine, **overrides: Any) -> Kefu:
        overrides.setdefault("stream_update_interval_s", 0.2)
        settings = slack_settings(fake_slack, **overrides)

        def make_adapter(context: AdapterContext) -> SlackAdapter:
            return SlackAdapter(context, settings)

        harness = KefuHarness(engine=engine, adapters={"slack": make_adapter})
        await harness.__aenter__()
        harnesses.append(harness)
        return Kefu(harness, fake_slack)

    yield start
    for harness in harnesses:
        await harness.__aexit__(None, None, None)


def answer_with(body: str) -> Callable[[GenerationRequest], str]:
    return lambda _request: body


async def test_native_stream_in_a_dm_ends_with_the_answer_and_feedback(kefu_factory: Any) -> None:
    kefu = await kefu_factory(StubEngine(answer_with(WORDS), token_delay_s=0.03))
    ts = "1700000201.000100"
    await kefu.ask("D100", "tell me everything", ts)
    await kefu.idle()
    (reply,) = kefu.fake.thread("D100", ts)  # one message: the stream became the answer
    (stream,) = kefu.fake.streams.values()
    assert stream.ts == reply.ts and stream.recipient is None  # DMs need no recipient
    assert len(stream.chunks) >= 3  # it really streamed, paced appends
    assert stream.stopped_by_app and not stream.closed_by_slack
    assert reply.text == WORDS
    assert [b["type"] for b in reply.blocks] == ["context_actions"]  # feedback under it
    assert kefu.fake.calls_to("chat.postMessage") == kefu.fake.calls_to("chat.update") == []
    (status, *_) = kefu.fake.statuses
    assert (status.channel, status.thread_ts, status.status) == ("D100", ts, "is thinking…")
    appends = kefu.fake.calls_to("chat.appendStream")
    gaps = [b.at - a.at for a, b in itertools.pairwise(appends)]
    assert min(gaps) >= 0.18


async def test_channel_streams_name_the_recipient_user_and_team(kefu_factory: Any) -> None:
    kefu = await kefu_factory(StubEngine(answer_with(WORDS), token_delay_s=0.02))
    ts = "1700000202.000100"
    await kefu.ask("C200", "stock of SKU-9?", ts, mention=True)
    await kefu.idle()
    (stream,) = kefu.fake.streams.values()
    assert stream.recipient == ("U2", "T0001")
    (reply,) = kefu.fake.thread("C200", ts)
    assert reply.text == WORDS


async def test_a_stream_slack_closes_falls_back_to_chat_update(kefu_factory: Any) -> None:
    kefu = await kefu_factory(StubEngine(answer_with(WORDS), token_delay_s=0.05))
    ts = "1700000203.000100"
    await kefu.ask("D100", "tell me everything", ts)
    async with asyncio.timeout(10):
        while not kefu.fake.streams or len(next(iter(kefu.fake.streams.values())).chunks) < 2:
            await asyncio.sleep(0.02)
    (stream,) = kefu.fake.streams.values()
    kefu.fake.close_stream(stream.channel, stream.ts)  # Slack ends it on its own
    await kefu.idle()
    refused = [c.error for c in kefu.fake.calls if c.method.endswith("Stream") and c.error]
    assert refused and set(refused) == {"message_not_in_streaming_state"}
    assert [c.error for c in kefu.fake.calls_to("chat.update")][-1] == ""  # edited instead
    (reply,) = kefu.fake.thread("D100", ts)  # still one message, edited to the full answer
    assert reply.text == WORDS
    assert [b["type"] for b in reply.blocks] == ["section", "context_actions"]
    assert not stream.stopped_by_app  # stopStream was refused: the message was edited
    assert kefu.fake.calls_to("chat.postMessage") == []


async def test_suggested_prompts_when_the_assistant_view_opens(kefu_factory: Any) -> None:
    kefu = await kefu_factory(StubEngine())
    event = assistant_thread_started("D100", "1700000204.000100")
    assert (await kefu.sender.post_event(event_callback(event)))[0] == 200
    async with asyncio.timeout(5):
        while not kefu.fake.suggested:
            await asyncio.sleep(0.02)
    (call,) = kefu.fake.suggested
    assert call["channel_id"] == "D100" and call["thread_ts"] == "1700000204.000100"
    assert call["prompts"][0]["title"] == "Look up an order"


async def test_feedback_is_stored_with_its_turn_and_exported_as_cases(
    kefu_factory: Any, tmp_path: Path
) -> None:
    engine = StubEngine(answer_with("The Oxford shirt costs ¥199.00, in stock: 12 left."))
    kefu = await kefu_factory(engine)
    first, second = "1700000205.000100", "1700000206.000100"
    await kefu.ask("D100", "how much is the Oxford shirt?", first)
    await kefu.ask("D101", "and the price of the jacket?", second)
    await kefu.idle()
    (up_reply,) = kefu.fake.thread("D100", first)
    (down_reply,) = kefu.fake.thread("D101", second)
    up = up_reply.blocks[-1]["elements"][0]["positive_button"]["value"]
    down = down_reply.blocks[-1]["elements"][0]["negative_button"]["value"]
    for payload in (
        feedback_click("D100", "U1", up, up_reply.ts, thread_ts=first, action_ts="1.1"),
        feedback_click("D100", "U1", up, up_reply.ts, thread_ts=first, action_ts="1.1"),  # retry
        feedback_click("D101", "U1", down, down_reply.ts, thread_ts=second, action_ts="1.2"),
    ):
        assert (await kefu.sender.post_action(payload))[0] == 200
    await kefu.idle()
    assert kefu.harness.store is not None
    rows = await kefu.harness.store.db.read(
        lambda conn: conn.execute(select(feedback).order_by(feedback.c.id)).all()
    )
    assert [(r.rating, r.rater_id) for r in rows] == [("up", "U1"), ("down", "U1")]
    assert all(r.decision_id is not None for r in rows)  # stored with the decision log entry
    assert len(kefu.fake.thread("D100", first)) == 1  # a click gets no reply
    out = tmp_path / "feedback.yaml"
    (written,) = await export_feedback(kefu.harness.store, out)
    assert (written.cases, written.skipped) == (2, 0)
    cases = {c.id: c for c in load_cases(out).cases}  # bench.eval reads it
    good, bad = (cases[f"feedback-{r.turn_id}"] for r in rows)
    assert good.text == "how much is the Oxford shirt?"
    assert set(good.expect_facts) >= {"¥199.00"} and not good.must_handoff
    assert bad.must_handoff and "¥199.00" in bad.forbid
