"""The assistant view: suggested prompts when a thread opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.assistant import AssistantView, thread_of
from adapters.slack.outbound import SlackWebApi
from adapters.slack.settings import SlackSettings, SuggestedPrompt
from adapters.slack.threads import KnownThreads
from tests.fakes.slack_server import FakeSlack, assistant_thread_started, event_callback


@pytest.fixture
async def api(fake_slack: FakeSlack) -> AsyncIterator[SlackWebApi]:
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url,
                                session=session)  # fmt: skip
        yield SlackWebApi(client, KnownThreads())


def test_the_thread_is_read_from_the_event() -> None:
    assert thread_of(event_callback(assistant_thread_started("D1", "1.2"))) == ("D1", "1.2")
    assert thread_of({"event": {"type": "assistant_thread_started"}}) is None
    assert thread_of({}) is None


async def test_prompts_are_offered_and_failures_are_quiet(
    fake_slack: FakeSlack, api: SlackWebApi
) -> None:
    settings = SlackSettings(suggested_prompts=[SuggestedPrompt(title="Orders", message="List")])
    view = AssistantView(api, settings)
    await view.thread_started(event_callback(assistant_thread_started("D1", "1.2")))
    fake_slack.fail("assistant.threads.setSuggestedPrompts", "not_allowed")
    await view.thread_started(event_callback(assistant_thread_started("D2", "1.3")))
    await view.close()
    (call,) = fake_slack.suggested
    assert call["prompts"] == [{"title": "Orders", "message": "List"}]
    assert call["title"] == settings.suggested_prompts_title


async def test_no_prompts_configured_sends_nothing(fake_slack: FakeSlack, api: SlackWebApi) -> None:
    view = AssistantView(api, SlackSettings(suggested_prompts=[]))
    await view.thread_started(event_callback(assistant_thread_started("D1", "1.2")))
    await asyncio.sleep(0.05)
    await view.close()
    assert fake_slack.calls_to("assistant.threads.setSuggestedPrompts") == []
