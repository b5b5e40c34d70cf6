"""End to end: signed webhook requests into the real store, worker, StubEngine, outbox and
dispatcher (tests/harness.py), replies back out as signed callbacks to the fake receiver,
as ``?wait=true`` responses, or as an SSE stream."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from adapters.webhook.adapter import WebhookAdapter
from core.engines.stub import StubEngine
from core.ports import AdapterContext
from tests.adapters.webhook.conftest import (
    OTHER_SECRET,
    SECRET,
    make_settings,
    message,
    png_b64,
    sign,
)
from tests.fakes.callback_receiver import CallbackReceiver
from tests.harness import KefuHarness

KefuFactory = Callable[..., Any]


class Kefu:
    """A running kefu with the webhook adapter, and helpers to drive it."""

    def __init__(self, harness: KefuHarness, session: aiohttp.ClientSession) -> None:
        self.harness = harness
        self.session = session

    async def post(
        self, body: dict[str, Any], webhook_id: str, *, query: str = "", secret: str | None = None
    ) -> aiohttp.ClientResponse:
        raw = json.dumps(body).encode()
        headers = sign(raw, webhook_id, secret) if secret else sign(raw, webhook_id)
        headers["Content-Type"] = "application/json"
        response = await self.session.post(
            f"{self.harness.base_url}/webhooks/shop{query}", data=raw, headers=headers
        )
        await response.read()
        return response

    async def counts(self) -> dict[str, int]:
        assert self.harness.store is not None
        return await self.harness.store.counts()

    async def idle(self) -> dict[str, int]:
        await self.harness.wait_until_idle(timeout=20)
        return await self.counts()


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    async with CallbackReceiver(SECRET) as fake:
        yield fake


@pytest.fixture
async def kefu_factory(receiver: CallbackReceiver) -> AsyncIterator[KefuFactory]:
    harnesses: list[KefuHarness] = []
    session = aiohttp.ClientSession()

    async def start(
        engine: StubEngine | None = None, callback: bool = True, **overrides: Any
    ) -> Kefu:
        overrides.setdefault("callback_retry_schedule_s", [0, 0.1, 0.1])
        settings = make_settings(receiver.url if callback else None, **overrides)

        def make_adapter(context: AdapterContext) -> WebhookAdapter:
            return WebhookAdapter(context, settings)

        harness = KefuHarness(engine=engine or StubEngine(), adapters={"webhook": make_adapter})
        await harness.__aenter__()
        harnesses.append(harness)
        return Kefu(harness, session)

    yield start
    for harness in harnesses:
        await harness.__aexit__(None, None, None)
    await session.close()


async def test_text_and_image_get_one_signed_callback(
    kefu_factory: KefuFactory, receiver: CallbackReceiver
) -> None:
    kefu = await kefu_factory()
    body = message("what is this?", images=[{"base64": png_b64((32, 32))}])
    response = await kefu.post(body, "wh_e2e_1")
    assert response.status == 202
    accepted = await response.json()
    counts = await kefu.idle()
    assert counts["inbox.done"] == 1 and counts["outbox.delivered"] == 1
    [callback] = receiver.calls
    assert callback.verified  # checked by the standardwebhooks library
    assert callback.webhook_id.startswith("msg_")
    assert callback.body["text"] == "Echo: what is this? [1 image(s)]"
    assert (callback.body["turn_id"], callback.body["seq"], callback.body["final"]) == (
        accepted["turn_id"],
        1,
        True,
    )
    assert callback.body["conversation_id"] == "conv-1"
    assert callback.body["reply_to"] == "wh_e2e_1"


async def test_replay_returns_the_original_result_and_one_reply(
    kefu_factory: KefuFactory, receiver: CallbackReceiver
) -> None:
    kefu = await kefu_factory()
    first = await kefu.post(message("hello"), "wh_dup")
    await kefu.idle()
    replay = await kefu.post(message("hello"), "wh_dup")
    assert replay.status == first.status == 202
    assert await replay.json() == {**(await first.json()), "duplicate": True}
    counts = await kefu.idle()
    assert counts["inbox.done"] == 1 and counts["outbox.delivered"] == 1
    assert len(receiver.calls) == 1


async def test_bad_signature_is_401_and_nothing_is_stored(
    kefu_factory: KefuFactory, receiver: CallbackReceiver
) -> None:
    kefu = await kefu_factory()
    response = await kefu.post(message("hello"), "wh_forged", secret=OTHER_SECRET)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "invalid_signature"
    counts = await kefu.idle()
    assert counts["turns"] == 0 and counts["conversations"] == 0
    assert not any(k.startswith(("inbox.", "outbox.")) for k in counts)
    assert receiver.calls == []


async def test_callback_429_is_waited_out_and_delivered_once(
    kefu_factory: KefuFactory, receiver: CallbackReceiver
) -> None:
    kefu = await kefu_factory()
    receiver.fail_next(1, 429, retry_after="0.3")
    await kefu.post(message("hello"), "wh_429")
    counts = await kefu.idle()
    assert counts["outbox.delivered"] == 1
    assert [c.answered for c in receiver.calls] == [429, 200]
    assert len(receiver.delivered) == 1
    assert receiver.calls[0].webhook_id == receiver.calls[1].webhook_id  # stable for dedupe


async def test_callback_failing_always_is_dead_lettered_after_the_schedule(
    kefu_factory: KefuFactory, receiver: CallbackReceiver
) -> None:
    kefu = await kefu_factory(callback_retry_schedule_s=[0, 0.1, 0.1])
    receiver.fail_next(1000, 500)
    await kefu.post(message("hello"), "wh_dead")
    counts = await kefu.idle()
    assert counts["outbox.dead"] == 1 and "outbox.delivered" not in counts
    # Exactly the Standard Webhooks schedule: now, +0.1 s, +0.1 s (no extra inline tries).
    assert len(receiver.calls) == 3
    assert all(c.verified and c.answered == 500 for c in receiver.calls)


async def test_callback_410_is_dead_at_once(
    kefu_factory: KefuFactory, receiver: CallbackReceiver
) -> None:
    kefu = await kefu_factory()
    receiver.fail_next(1000, 410)
    await kefu.post(message("hello"), "wh_gone")
    counts = await kefu.idle()
    assert counts["outbox.dead"] == 1
    assert len(receiver.calls) == 1


async def test_wait_true_returns_the_reply_and_a_replay_the_same(kefu_factory: KefuFactory) -> None:
    kefu = await kefu_factory(callback=False)
    response = await kefu.post(message("how much is it?"), "wh_wait", query="?wait=true")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "answered"
    assert [r["text"] for r in body["replies"]] == ["Echo: how much is it?"]
    assert body["replies"][-1]["final"] is True
    replay = await kefu.post(message("how much is it?"), "wh_wait", query="?wait=true")
    assert await replay.json() == {**body, "duplicate": True}
    counts = await kefu.idle()
    assert counts["inbox.done"] == 1 and counts["outbox.delivered"] == 1


async def test_sse_streams_partial_text_then_the_final_reply(
    kefu_factory: KefuFactory, receiver: CallbackReceiver
) -> None:
    kefu = await kefu_factory(engine=StubEngine(token_delay_s=0.05))
    response = await kefu.post(
        message("tell me about the blue mug please"), "wh_sse", query="?stream=true"
    )
    assert response.status == 200
    events = []
    for block in (await response.text()).strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        events.append((fields["event"], json.loads(fields["data"])))
    names = [name for name, _ in events]
    assert names[0] == "accepted" and names[-2:] == ["reply", "done"]
    partials = [data["text"] for name, data in events if name == "partial"]
    assert len(partials) >= 3
    assert all(b.startswith(a) for a, b in itertools.pairwise(partials))
    final = events[-2][1]
    assert final["text"] == "Echo: tell me about the blue mug please"
    assert final["final"] is True and partials[-1] == final["text"]
    counts = await kefu.idle()
    assert counts["outbox.delivered"] == 1
    assert len(receiver.delivered) == 1  # the callback still carries the reply (at-least-once)
