"""Waiting for replies over HTTP: ``?wait=true`` answers and Server-Sent Event streams."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from adapters.webhook import responses
from tests.adapters.webhook.conftest import (
    KEY,
    MemoryInbox,
    ServeFactory,
    make_settings,
    message,
    outbound,
    sign,
)


async def _turn_id_when_stored(served_inbox: MemoryInbox) -> int:
    await asyncio.wait_for(served_inbox.stored.wait(), 5)
    return max(served_inbox.turns)


async def test_wait_returns_every_reply_and_a_replay_gets_the_same(serve: ServeFactory) -> None:
    served = await serve()
    request = asyncio.create_task(served.post(message(), webhook_id="wh_w", query="?wait=true"))
    turn_id = await _turn_id_when_stored(served.inbox)
    await served.adapter.deliver(outbound(1, turn_id, seq=1, final=False, body="first"))
    await asyncio.sleep(0.05)
    assert not request.done()  # not final yet
    await served.adapter.deliver(outbound(2, turn_id, seq=2, final=True, body="second"))
    response = await request
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "answered" and body["duplicate"] is False
    assert [(r["seq"], r["text"], r["final"]) for r in body["replies"]] == [
        (1, "first", False),
        (2, "second", True),
    ]
    replay = await served.post(message(), webhook_id="wh_w", query="?wait=true")
    assert replay.status == 200
    assert (await replay.json()) == {**body, "duplicate": True}


async def test_wait_times_out_with_202(serve: ServeFactory) -> None:
    served = await serve(settings=make_settings(wait_timeout_s=0.2))
    response = await served.post(message(), query="?wait=1")
    assert response.status == 202
    assert (await response.json())["status"] == "accepted"


def parse_sse(raw: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:  # blocks of comments only are keep-alives
            events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.mark.parametrize(
    ("query", "headers"), [("?stream=true", {}), ("", {"Accept": "text/event-stream"})]
)
async def test_sse_streams_partials_then_replies_then_done(
    serve: ServeFactory, query: str, headers: dict[str, str]
) -> None:
    served = await serve()
    request = asyncio.create_task(
        served.post(message(), webhook_id="wh_s", query=query, headers=headers)
    )
    turn_id = await _turn_id_when_stored(served.inbox)
    stream = await served.adapter.open_stream(KEY, "wh_s")
    assert stream is not None
    for partial in ("Echo:", "Echo: hel", "Echo: hello"):
        await stream.update(partial)
        await asyncio.sleep(0.06)  # past the coalescing interval
    await stream.close()
    await served.adapter.deliver(outbound(9, turn_id, final=True))
    response = await request
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = parse_sse(await response.text())
    assert [name for name, _ in events] == [
        "accepted",
        "partial",
        "partial",
        "partial",
        "reply",
        "done",
    ]
    assert [data["text"] for name, data in events if name == "partial"] == [
        "Echo:",
        "Echo: hel",
        "Echo: hello",
    ]
    assert events[4][1]["final"] is True and events[4][1]["turn_id"] == turn_id
    assert events[5][1] == {"turn_id": turn_id, "replies": 1}


async def test_sse_times_out_with_a_timeout_event(serve: ServeFactory) -> None:
    served = await serve(settings=make_settings(wait_timeout_s=0.2))
    response = await served.post(message(), query="?stream=true")
    assert [name for name, _ in parse_sse(await response.text())] == ["accepted", "timeout"]


async def test_no_stream_without_a_streaming_request(serve: ServeFactory) -> None:
    served = await serve()
    await served.post(message(), webhook_id="wh_plain")
    assert await served.adapter.open_stream(KEY, "wh_plain") is None


async def test_sse_sends_keepalive_comments_while_waiting(
    serve: ServeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(responses, "HEARTBEAT_S", 0.05)
    served = await serve(settings=make_settings(wait_timeout_s=0.3))
    response = await served.post(message(), query="?stream=true")
    raw = await response.text()
    assert raw.count(": keepalive") >= 2
    assert [name for name, _ in parse_sse(raw)] == ["accepted", "timeout"]


async def test_a_client_leaving_an_sse_stream_releases_it(serve: ServeFactory) -> None:
    served = await serve()
    async with aiohttp.ClientSession() as client:
        raw = json.dumps(message()).encode()
        response = await client.post(
            f"{served.base_url}/webhooks/shop?stream=true",
            data=raw,
            headers={**sign(raw, "wh_gone"), "Content-Type": "application/json"},
        )
        assert (await response.content.readline()).startswith(b"event: accepted")
        assert await served.adapter.open_stream(KEY, "wh_gone") is not None
        response.close()  # the customer closed the page
    turn_id = max(served.inbox.turns)
    await served.adapter.deliver(outbound(3, turn_id))  # nobody to write to: no error
    async with asyncio.timeout(5):
        # The handler notices the departure on its next write, then releases the stream.
        while await served.adapter.open_stream(KEY, "wh_gone") is not None:
            await asyncio.sleep(0.01)
    assert [r.turn_id for r in served.adapter.book.replies(turn_id)] == [turn_id]
