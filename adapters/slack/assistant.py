"""Slack's assistant (agent) view: suggested prompts when a staff member opens a thread.

Slack sends ``assistant_thread_started`` when someone opens the assistant view; kefu then
offers the configured prompts (``assistant.threads.setSuggestedPrompts``, at most four),
so staff see at once what the assistant can look up. The call runs after the event is
acknowledged: suggestions are a courtesy and must never delay or fail the ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from adapters.slack.outbound import SlackWebApi
from adapters.slack.settings import SlackSettings
from core.errors import PlatformError

log = logging.getLogger(__name__)


def thread_of(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(channel, thread_ts) of an ``assistant_thread_started`` event, or None if malformed."""
    event = body.get("event")
    thread = event.get("assistant_thread") if isinstance(event, Mapping) else None
    if not isinstance(thread, Mapping):
        return None
    channel, ts = thread.get("channel_id"), thread.get("thread_ts")
    if isinstance(channel, str) and isinstance(ts, str) and channel and ts:
        return channel, ts
    return None


class AssistantView:
    """Suggested prompts for new assistant threads.

    Args:
        api: The Web API.
        settings: Slack settings (``suggested_prompts``, ``suggested_prompts_title``).
    """

    def __init__(self, api: SlackWebApi, settings: SlackSettings) -> None:
        self._api = api
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    async def thread_started(self, body: Mapping[str, Any]) -> None:
        """Listener for ``assistant_thread_started``: offer the prompts in the background."""
        where = thread_of(body)
        if where is None or not self._settings.suggested_prompts:
            return
        task = asyncio.create_task(self._suggest(*where), name="slack-suggested-prompts")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _suggest(self, channel: str, thread_ts: str) -> None:
        prompts = [(p.title, p.message) for p in self._settings.suggested_prompts]
        try:
            await self._api.suggest_prompts(
                channel, thread_ts, self._settings.suggested_prompts_title, prompts
            )
        except PlatformError as exc:
            log.info("suggested prompts not set in %s: %s", channel, exc)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
