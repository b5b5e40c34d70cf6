"""End to end: signed Slack events into the real store, worker, StubEngine, outbox and back
out through the real AsyncWebClient to the fake Slack (tests/harness.py)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.slack.adapter import SlackAdapter
from core.engines.base import GenerationRequest
from core.engines.stub import StubEngine
from core.ports import AdapterContext
from tests.adapters.slack.conftest import SIGNING_SECRET, png_bytes, slack_settings
from tests.fakes.slack_server import (
    FakeSlack,
    SlackEventSender,
    event_callback,
    mention_event,
    message_event,
)
from tests.harness import KefuHarness

BOT = "UKEFUBOT"
LONG_ANSWER = " ".join(f"word{i}" for i in range(40))


def inbox_total(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k.startswith("inbox."))


class Kefu:
    def __init__(self, harness: KefuHarness, fake: FakeSlack) -> None:
        self.harness, self.fake = harness, fake
        self.sender = SlackEventSender(f"{harness.base_url}/slack/events", SIGNING_SECRET)

    async def counts(self) -> dict[str, int]:
        assert self.harness.store is not None
        return await self.harness.store.counts()


@pytest.fixture
async def kefu_factory(fake_slack: FakeSlack) -> AsyncIterator[Callable[..., Any]]:
    harnesses: list[KefuHarness] = []

    async def start(engine: StubEngine | None = None, **overrides: Any) -> Kefu:
        settings = slack_settings(fake_slack, **overrides)

        def make_adapter(context: AdapterContext) -> SlackAdapter:
            return SlackAdapter(context, settings)

        harness = KefuHarness(engine=engine or StubEngine(), adapters={"slack": make_adapter})
        await harness.__aenter__()
        harnesses.append(harness)
        return Kefu(harness, fake_slack)

    yield start
    for harness in harnesses:
        await harness.__aexit__(None, None, None)


async def test_dm_with_an_image_gets_one_reply_in_its_thread(kefu_factory: Any) -> None:
    kefu = await kefu_factory()
    file = kefu.fake.add_file(png_bytes((120, 90)), "damaged.png")
    ts = "1700000101.000100"
    event = message_event("D100", "U1", "is this damaged?", ts, files=[file])
    assert (await kefu.sender.post_event(event_callback(event)))[0] == 200
    await kefu.harness.wait_until_idle(timeout=20)
    [reply] = kefu.fake.thread("D100", ts)
    assert reply.text == "Echo: is this damaged? [1 image(s)]"
    assert inbox_total(await kefu.counts()) == 1


async def test_app_mention_is_answered_in_thread(kefu_factory: Any) -> None:
    kefu = await kefu_factory()
    ts = "1700000102.000100"
    await kefu.sender.post_event(
        event_callback(mention_event("C200", "U2", f"<@{BOT}> stock of SKU-9?", ts))
    )
    await kefu.harness.wait_until_idle(timeout=20)
    [reply] = kefu.fake.thread("C200", ts)
    assert reply.text == "Echo: stock of SKU-9?"


async def test_slack_retries_and_duplicate_event_kinds_get_one_reply(kefu_factory: Any) -> None:
    kefu = await kefu_factory()
    ts = "1700000103.000100"
    text = f"<@{BOT}> hello"
    message = event_callback(
        message_event("C300", "U3", text, ts, channel_type="channel"), event_id="EvA"
    )
    mention = event_callback(mention_event("C300", "U3", text, ts), event_id="EvB")
    assert (await kefu.sender.post_event(message))[0] == 200
    assert (await kefu.sender.post_event(mention))[0] == 200
    assert (await kefu.sender.post_event(message, retry_num=1))[0] == 200
    await kefu.harness.wait_until_idle(timeout=20)
    assert (await kefu.sender.post_event(mention, retry_num=2))[0] == 200  # late retry
    await kefu.harness.wait_until_idle(timeout=20)
    assert [m.text for m in kefu.fake.thread("C300", ts)] == ["Echo: hello"]
    assert inbox_total(await kefu.counts()) == 1


async def test_bad_signature_is_401_and_nothing_is_stored(kefu_factory: Any) -> None:
    kefu = await kefu_factory()
    body = event_callback(message_event("D100", "U1", "forged", "1700000104.000100"))
    status, _ = await kefu.sender.post_event(body, signature="v0=" + "f" * 64)
    assert status == 401
    await kefu.harness.wait_until_idle(timeout=5)
    assert inbox_total(await kefu.counts()) == 0
    assert kefu.fake.calls_to("chat.postMessage") == []


async def test_429_on_post_message_is_waited_out_and_delivered_once(kefu_factory: Any) -> None:
    kefu = await kefu_factory()
    kefu.fake.rate_limit("chat.postMessage", times=2, retry_after=0.3)
    ts = "1700000105.000100"
    await kefu.sender.post_event(event_callback(message_event("D100", "U1", "anyone there?", ts)))
    await kefu.harness.wait_until_idle(timeout=20)
    assert [m.text for m in kefu.fake.thread("D100", ts)] == ["Echo: anyone there?"]
    limited = [c for c in kefu.fake.calls_to("chat.postMessage") if c.status == 429]
    ok = kefu.fake.calls_to("chat.postMessage", ok_only=True)
    assert len(limited) == 2 and len(ok) == 1
    assert ok[0].at - limited[-1].at >= 0.28  # Retry-After honoured


async def test_streaming_preview_is_paced_and_the_final_text_is_the_full_answer(
    kefu_factory: Any,
) -> None:
    def answer(request: GenerationRequest) -> str:
        return LONG_ANSWER

    engine = StubEngine(answer, token_delay_s=0.04)  # 40 tokens over ~1.6 s
    kefu = await kefu_factory(engine=engine, stream_update_interval_s=0.3)
    ts = "1700000106.000100"
    await kefu.sender.post_event(
        event_callback(message_event("D100", "U1", "tell me everything", ts))
    )
    await kefu.harness.wait_until_idle(timeout=20)
    [reply] = kefu.fake.thread("D100", ts)
    assert reply.text == LONG_ANSWER
    assert len(reply.edits) >= 3  # it really streamed
    preview_calls = [c for c in kefu.fake.calls if c.method in ("chat.postMessage", "chat.update")][
        :-1
    ]
    gaps = [b.at - a.at for a, b in itertools.pairwise(preview_calls)]
    assert min(gaps) >= 0.28  # the last call is the outbox's final edit, not paced


async def test_bots_own_messages_are_not_answered(kefu_factory: Any) -> None:
    kefu = await kefu_factory()
    ts = "1700000107.000100"
    await kefu.sender.post_event(event_callback(message_event("D100", "U1", "ping", ts)))
    await kefu.harness.wait_until_idle(timeout=20)
    [reply] = kefu.fake.thread("D100", ts)
    # Slack echoes the bot's own reply back as a message event, twice over.
    own = message_event("D100", BOT, reply.text, reply.ts, thread_ts=ts)
    own_bot = message_event(
        "D100", "", reply.text, reply.ts, thread_ts=ts, bot_id="BKEFU", subtype="bot_message"
    )
    for event in (own, own_bot):
        assert (await kefu.sender.post_event(event_callback(event)))[0] == 200
    await kefu.harness.wait_until_idle(timeout=20)
    assert inbox_total(await kefu.counts()) == 1
    assert len(kefu.fake.thread("D100", ts)) == 1


async def test_html_login_page_never_reaches_the_model(kefu_factory: Any) -> None:
    engine = StubEngine()
    kefu = await kefu_factory(engine=engine)
    kefu.fake.serve_login_page = True
    file = kefu.fake.add_file(png_bytes(), "photo.png")
    ts = "1700000108.000100"
    await kefu.sender.post_event(
        event_callback(message_event("D100", "U1", "my photo", ts, files=[file]))
    )
    await kefu.harness.wait_until_idle(timeout=20)
    [reply] = kefu.fake.thread("D100", ts)
    assert (
        reply.text.startswith("Echo: my photo\n[file photo.png")
        and "[1 image(s)]" not in reply.text
    )
    [request] = engine.requests
    assert all(not m.images for m in request.messages)
