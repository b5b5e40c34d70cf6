"""Fixtures for the Telegram adapter tests: the fake Bot API, an in-memory inbox, adapters."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image
from pydantic import SecretStr

from adapters.telegram.adapter import SECRET_HEADER, TelegramAdapter
from adapters.telegram.settings import TelegramSettings
from core.errors import StoreError
from core.model.turn import Turn
from core.ports import AdapterContext, IngestResult
from tests.fakes.telegram_server import (
    FakeTelegramServer,
    WebhookAttempt,
    deliver_like_telegram,
)

WEBHOOK_SECRET = "s3cr3t-Token_for-tests"


def jpeg_bytes(
    size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def host_photo(tg: FakeTelegramServer, file_id: str, size: tuple[int, int] = (64, 48)) -> None:
    """Host a real JPEG as the largest size and different ones as the smaller sizes."""
    tg.add_file(file_id, jpeg_bytes(size))
    tg.add_file(f"{file_id}-s", jpeg_bytes((9, 7)))
    tg.add_file(f"{file_id}-m", jpeg_bytes((32, 24)))


@dataclass
class MemoryInbox:
    """InboxPort in memory: idempotent on (platform, message_id), optionally failing or slow."""

    turns: list[Turn] = field(default_factory=list)
    ids: dict[tuple[str, str], int] = field(default_factory=dict)
    duplicates: int = 0
    fail_next: int = 0
    delay_s: float = 0.0
    stored_at: list[float] = field(default_factory=list)

    async def put(self, turn: Turn) -> IngestResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_next:
            self.fail_next -= 1
            raise StoreError("disk full")
        key = (turn.key.channel, turn.message_id)
        if key in self.ids:
            self.duplicates += 1
            return IngestResult(self.ids[key], duplicate=True)
        self.turns.append(turn)
        self.ids[key] = len(self.turns)
        self.stored_at.append(asyncio.get_running_loop().time())
        return IngestResult(len(self.turns), duplicate=False)


def tg_settings(tg: FakeTelegramServer, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "bot_token": SecretStr(tg.token),
        "mode": "polling",
        "base_url": tg.base_url,
        "base_file_url": tg.file_url,
        "album_debounce_s": 0.25,
        "stream_edit_interval_s": 0.2,
        "poll_timeout_s": 1,
        "typing_interval_s": 0.5,
    }
    values.update(overrides)
    return TelegramSettings(**values)


def webhook_settings(tg: FakeTelegramServer, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "mode": "webhook",
        "webhook_secret": SecretStr(WEBHOOK_SECRET),
        "webhook_url": "https://kefu.example.com",
    }
    values.update(overrides)
    return tg_settings(tg, **values)


@dataclass
class WebhookRig:
    """A webhook-mode adapter on a served aiohttp app, and a client to post updates."""

    adapter: TelegramAdapter
    inbox: MemoryInbox
    tg: FakeTelegramServer
    url: str
    session: aiohttp.ClientSession

    async def post(
        self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET
    ) -> aiohttp.ClientResponse:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with self.session.post(self.url, json=update, headers=headers) as response:
            await response.read()
            return response

    async def deliver(self, *updates: dict[str, Any]) -> list[WebhookAttempt]:
        """Deliver like Telegram: per chat one at a time, each retried until 2xx."""
        return await deliver_like_telegram(self.session, self.url, WEBHOOK_SECRET, list(updates))


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


@pytest.fixture
def inbox() -> MemoryInbox:
    return MemoryInbox()


@pytest.fixture
async def serve_webhook(
    tg: FakeTelegramServer, inbox: MemoryInbox, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[WebhookRig]]]:
    """Factory: ``await serve(**settings_overrides)`` gives a started webhook-mode adapter.

    The album journal lives in ``tmp_path`` unless ``album_journal_path`` is overridden.
    """
    started: list[tuple[TelegramAdapter, web.AppRunner]] = []
    async with aiohttp.ClientSession() as session:

        async def serve(**overrides: Any) -> WebhookRig:
            overrides.setdefault("album_journal_path", str(tmp_path / "albums.db"))
            app = web.Application()
            adapter = TelegramAdapter(
                AdapterContext(inbox=inbox, web=app), webhook_settings(tg, **overrides)
            )
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            await adapter.start()
            started.append((adapter, runner))
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
            return WebhookRig(adapter, inbox, tg, url, session)

        yield serve
        for adapter, runner in started:
            await adapter.stop()
            await runner.cleanup()


@pytest.fixture
async def webhook_rig(serve_webhook: Callable[..., Awaitable[WebhookRig]]) -> WebhookRig:
    return await serve_webhook()


@pytest.fixture
async def polling_adapter(
    tg: FakeTelegramServer, inbox: MemoryInbox
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: ``await make(**settings_overrides)`` gives a started polling adapter."""
    adapters: list[TelegramAdapter] = []

    async def make(**overrides: Any) -> TelegramAdapter:
        adapter = TelegramAdapter(AdapterContext(inbox=inbox), tg_settings(tg, **overrides))
        await adapter.start()
        adapters.append(adapter)
        return adapter

    yield make
    for adapter in adapters:
        await adapter.stop()


async def eventually(predicate: Callable[[], bool], within_s: float = 5.0) -> None:
    """Wait until ``predicate()`` holds (polling every 20 ms)."""
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.02)


def assert_paced(times: list[float], interval: float) -> None:
    """Calls (arrival times) were at most one per ``interval``.

    The client paces send times; arrival times add transit jitter, so each single gap gets
    some slack while the whole span must still hold ``interval`` per gap.
    """
    assert len(times) >= 2
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= interval - 0.08, gaps
    assert times[-1] - times[0] >= (len(times) - 1) * interval - 0.05, gaps
