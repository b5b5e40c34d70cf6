"""Web API output calls against the fake Slack: error translation, draft edits, uploads."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.formatting import SlackOutgoing
from adapters.slack.outbound import SlackWebApi, api_call
from adapters.slack.threads import KnownThreads
from core.errors import AuthenticationError, PlatformError, RateLimitedError
from core.media.images import normalise_image
from tests.adapters.slack.conftest import png_bytes
from tests.fakes.slack_server import FakeSlack


@pytest.fixture
async def web_api(fake_slack: FakeSlack) -> AsyncIterator[SlackWebApi]:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token=fake_slack.bot_token, base_url=fake_slack.api_url, session=session
        )
        yield SlackWebApi(client, KnownThreads())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_unreachable_slack_is_a_platform_error() -> None:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(
            token="xoxb-x", base_url=f"http://127.0.0.1:{free_port()}/api/", session=session
        )
        with pytest.raises(PlatformError) as caught:
            await api_call("chat.postMessage", client.chat_postMessage(channel="C1", text="x"))
    assert type(caught.value) is PlatformError


async def test_startup_calls_turn_a_bad_token_into_an_authentication_error(
    fake_slack: FakeSlack,
) -> None:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token="xoxb-bad", base_url=fake_slack.api_url, session=session)
        with pytest.raises(AuthenticationError):
            await api_call("auth.test", client.auth_test(), startup=True)
        with pytest.raises(PlatformError):
            await api_call("auth.test", client.auth_test())


async def test_post_remembers_the_thread(web_api: SlackWebApi, fake_slack: FakeSlack) -> None:
    threads = web_api._threads
    ts = await web_api.post("C1", SlackOutgoing("root"), None)
    await web_api.post("C1", SlackOutgoing("reply"), "1700000000.000009")
    assert ("C1", ts) in threads and ("C1", "1700000000.000009") in threads


async def test_finish_draft_edits_or_posts_anew(
    web_api: SlackWebApi, fake_slack: FakeSlack
) -> None:
    draft = await web_api.post("C1", SlackOutgoing("draft"), "1.0")
    assert await web_api.finish_draft("C1", draft, SlackOutgoing("final"), "1.0") == draft
    assert fake_slack.messages[("C1", draft)].text == "final"
    fake_slack.fail("chat.update", "cant_update_message")
    new_ts = await web_api.finish_draft("C1", draft, SlackOutgoing("final 2"), "1.0")
    assert new_ts != draft and fake_slack.messages[("C1", new_ts)].text == "final 2"


async def test_finish_draft_surfaces_rate_limits(
    web_api: SlackWebApi, fake_slack: FakeSlack
) -> None:
    draft = await web_api.post("C1", SlackOutgoing("draft"), "1.0")
    fake_slack.rate_limit("chat.update", retry_after=3)
    with pytest.raises(RateLimitedError) as caught:
        await web_api.finish_draft("C1", draft, SlackOutgoing("final"), "1.0")
    assert caught.value.retry_after == 3.0
    assert len(fake_slack.thread("C1", "1.0")) == 1  # no duplicate posted


async def test_upload_image_uses_the_external_upload_flow(
    web_api: SlackWebApi, fake_slack: FakeSlack
) -> None:
    image = normalise_image(png_bytes())
    file_id = await web_api.upload_image("C1", "1.0", image, "photo")
    methods = [c.method for c in fake_slack.calls]
    assert methods == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    assert fake_slack.uploads[file_id] == image.data
    assert ("C1", "1.0") in web_api._threads
