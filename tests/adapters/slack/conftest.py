"""Fixtures for the Slack adapter tests: the fake Slack, an in-memory inbox, a served adapter."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from PIL import Image
from pydantic import SecretStr

from adapters.slack.adapter import SlackAdapter
from adapters.slack.settings import SlackSettings
from core.errors import StoreError
from core.model.turn import Turn
from core.ports import AdapterContext, HeldTurnsPort, InboxPort, IngestResult, SharedStatePort
from tests.fakes.slack_server import FakeSlack, SlackEventSender

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def png_bytes(
    size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (10, 120, 200)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class MemoryInbox:
    """InboxPort in memory: idempotent on (platform, message_id), optionally failing."""

    turns: list[Turn] = field(default_factory=list)
    ids: dict[tuple[str, str], int] = field(default_factory=dict)
    fail_next: int = 0

    async def put(self, turn: Turn) -> IngestResult:
        if self.fail_next:
            self.fail_next -= 1
            raise StoreError("disk full")
        key = (turn.key.channel, turn.message_id)
        if key in self.ids:
            return IngestResult(self.ids[key], duplicate=True)
        self.turns.append(turn)
        self.ids[key] = len(self.turns)
        return IngestResult(len(self.turns), duplicate=False)


def slack_settings(fake: FakeSlack, **overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "bot_token": SecretStr(fake.bot_token),
        "signing_secret": SecretStr(SIGNING_SECRET),
        "app_token": SecretStr(fake.app_token),
        "base_url": fake.api_url,
        "stream_update_interval_s": 0.2,
        "http_timeout_s": 5,
    }
    values.update(overrides)
    return SlackSettings(**values)


@dataclass
class Served:
    """An initialised adapter mounted on a running aiohttp app."""

    adapter: SlackAdapter
    inbox: Any  # a MemoryInbox, or the store
    fake: FakeSlack
    sender: SlackEventSender
    base_url: str


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def serve(fake_slack: FakeSlack) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await serve(**settings_overrides)`` -> :class:`Served`, cleaned up after."""
    cleanups: list[Callable[[], Any]] = []

    async def start(
        inbox: InboxPort | None = None,
        shared: SharedStatePort | None = None,
        held: HeldTurnsPort | None = None,
        **overrides: Any,
    ) -> Served:
        inbox = inbox or MemoryInbox()
        app = web.Application()
        settings = slack_settings(fake_slack, **overrides)
        context = AdapterContext(inbox=inbox, shared=shared, web=app, held=held)
        adapter = SlackAdapter(context, settings)
        runner = web.AppRunner(app)
        await runner.setup()
        cleanups.append(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        cleanups.append(adapter.stop)
        await adapter.start()
        sender = SlackEventSender(base + settings.events_path, SIGNING_SECRET)
        return Served(adapter, inbox, fake_slack, sender, base)

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()
