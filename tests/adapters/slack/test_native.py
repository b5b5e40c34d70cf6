"""SlackNativeStream and NativeStreams against the fake Slack with the real AsyncWebClient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.formatting import SlackOutgoing, feedback_block, with_blocks
from adapters.slack.native import (
    NativeStreams,
    SlackNativeStream,
    StatusText,
    StreamState,
    stream_recipient,
)
from adapters.slack.outbound import SlackWebApi, StreamRecipient
from adapters.slack.threads import KnownThreads
from tests.fakes.slack_server import FakeSlack

THREAD = "1700000300.000100"


@pytest.fixture
async def api(fake_slack: FakeSlack) -> AsyncIterator[SlackWebApi]:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url,
                                session=session)  # fmt: skip
        yield SlackWebApi(client, KnownThreads())


def test_only_channel_streams_need_a_recipient() -> None:
    assert stream_recipient("D1", "", "") == (True, None)
    assert stream_recipient("C1", "U1", "T1") == (True, StreamRecipient("U1", "T1"))
    assert stream_recipient("C1", "", "T1") == (False, None)  # unknown asker: no native stream


async def feed(stream: SlackNativeStream, words: int) -> str:
    text = ""
    for index in range(words):
        text = f"{text} w{index}".strip()
        await stream.update(text)
        await asyncio.sleep(0.02)
    return text


async def test_status_then_paced_appends(fake_slack: FakeSlack, api: SlackWebApi) -> None:
    streams = NativeStreams()
    stream = SlackNativeStream(api, streams, "D1", THREAD, recipient=None, interval_s=0.1,
                               status=StatusText("is looking…", ("checking orders",)))  # fmt: skip
    text = await feed(stream, 25)
    await asyncio.sleep(0.15)
    await stream.close()
    (status,) = fake_slack.statuses  # shown once; a streamed reply replaced it
    assert (status.status, status.loading) == ("is looking…", ("checking orders",))
    (fake,) = fake_slack.streams.values()
    assert fake.markdown == text and fake.streaming  # left open for the outbox to finish
    assert stream.ref == f"native:D1:{fake.ts}"
    assert 3 <= len(fake.chunks) <= 0.6 / 0.1 + 2


async def test_without_a_preview_only_the_status_shows_and_is_cleared(
    fake_slack: FakeSlack, api: SlackWebApi
) -> None:
    stream = SlackNativeStream(api, NativeStreams(), "D1", THREAD, recipient=None,
                               interval_s=0.1, preview=False, status=StatusText())  # fmt: skip
    await stream.update("a withheld answer")
    await stream.close()
    assert [s.status for s in fake_slack.statuses] == ["is thinking…", ""]
    assert fake_slack.streams == {} and stream.ref is None


async def test_a_closed_stream_goes_on_with_updates(
    fake_slack: FakeSlack, api: SlackWebApi
) -> None:
    streams = NativeStreams()
    stream = SlackNativeStream(api, streams, "C1", THREAD, recipient=StreamRecipient("U1", "T1"),
                               interval_s=0.05)  # fmt: skip
    await stream.update("first words")
    await asyncio.sleep(0.1)
    (fake,) = fake_slack.streams.values()
    assert fake.recipient == ("U1", "T1")
    fake_slack.close_stream("C1", fake.ts)
    await stream.update("first words and more")
    await asyncio.sleep(0.2)
    await stream.close()
    assert fake_slack.messages[("C1", fake.ts)].text == "first words and more"
    assert [c.error for c in fake_slack.calls_to("chat.appendStream")] == [
        "message_not_in_streaming_state"
    ]
    assert stream.error is None


async def finish(api: SlackWebApi, streams: NativeStreams, ts: str, text: str) -> SlackOutgoing:
    piece = with_blocks(SlackOutgoing(text), (feedback_block(5),))
    await streams.finish(api, "D1", f"native:D1:{ts}", piece, piece.blocks[-1:])
    return piece


async def test_finish_stops_the_stream_with_the_rest_and_the_blocks(
    fake_slack: FakeSlack, api: SlackWebApi
) -> None:
    streams = NativeStreams()
    ts = await api.start_stream("D1", THREAD, "The shirt", None)
    streams.add(StreamState("D1", ts, "The shirt"))
    await finish(api, streams, ts, "The shirt costs ¥199.")
    message = fake_slack.messages[("D1", ts)]
    assert message.text == "The shirt costs ¥199."
    assert [b["type"] for b in message.blocks] == ["context_actions"]
    assert fake_slack.calls_to("chat.update") == []


async def test_finish_edits_when_the_stream_is_closed_or_unknown(
    fake_slack: FakeSlack, api: SlackWebApi
) -> None:
    streams = NativeStreams()
    closed = await api.start_stream("D1", THREAD, "The shirt", None)
    streams.add(StreamState("D1", closed, "The shirt"))
    fake_slack.close_stream("D1", closed)
    await finish(api, streams, closed, "The shirt costs ¥199.")
    unknown = await api.start_stream("D1", THREAD, "Something else", None)  # e.g. after a restart
    await finish(api, streams, unknown, "The jacket costs ¥599.")
    for ts, text in ((closed, "The shirt costs ¥199."), (unknown, "The jacket costs ¥599.")):
        message = fake_slack.messages[("D1", ts)]
        assert message.text == text and message.blocks[-1]["type"] == "context_actions"
    assert not fake_slack.streams[("D1", unknown)].streaming  # ended before the edit


async def test_the_fake_streams_like_slack_for_slack_sdks_own_helper(
    fake_slack: FakeSlack, api: SlackWebApi
) -> None:
    """slack_sdk's chat_stream helper (software we did not write) against the fake."""
    streamer = await api.client.chat_stream(
        channel="C1", thread_ts=THREAD, recipient_user_id="U1", recipient_team_id="T1",
        buffer_size=5,
    )  # fmt: skip
    await streamer.append(markdown_text="hello ")
    await streamer.append(markdown_text="world")
    await streamer.stop(markdown_text="!", blocks=[feedback_block(3)])
    (fake,) = fake_slack.streams.values()
    assert fake.markdown == "hello world!" and fake.stopped_by_app
    assert fake_slack.messages[("C1", fake.ts)].blocks[0]["type"] == "context_actions"
    assert streamer.ts == fake.ts
