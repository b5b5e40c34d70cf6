"""A whole kefu with Telegram and Slack pointed at their fakes, plus the handoff service.

:class:`HandoffHarness` is :class:`tests.harness.KefuHarness` wired the way ``main.py``
wires the handoff (the ``"handoff"`` adapter, ``bind``) and the export route.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from adapters.base import AdapterContext
from adapters.handoff_desks import build_desks
from adapters.slack.adapter import SlackAdapter
from adapters.telegram.adapter import SECRET_HEADER, TelegramAdapter
from adapters.webhook.adapter import WebhookAdapter
from config.handoff import HandoffSettings
from config.webhook import WebhookSettings
from core.answering.prompt_brain import PromptBrain
from core.api.export import add_export_route
from core.engines.stub import StubEngine
from core.handoff.service import HandoffService
from core.model.turn import Role
from core.runtime.runtime import AdapterFactory, Runtime
from core.store.store import Store
from tests.adapters.slack.conftest import SIGNING_SECRET, slack_settings
from tests.adapters.telegram.conftest import WEBHOOK_SECRET, webhook_settings
from tests.fakes.slack_server import FakeSlack, PostedMessage, SlackEventSender
from tests.fakes.telegram_server import FakeTelegramServer
from tests.handoff.helpers import PolicyBrain
from tests.harness import KefuHarness

STAFF_CHANNEL = "CSTAFF"
API_KEY = "export-key-for-tests"


class HandoffHarness(KefuHarness):
    """KefuHarness plus ``HandoffService`` and the export route, wired like ``main.py``."""

    def __init__(
        self, handoff: HandoffSettings, slack_channel: str | None = STAFF_CHANNEL, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.handoff_settings = handoff
        self.slack_channel = slack_channel
        self.handoff: HandoffService | None = None

    async def __aenter__(self) -> HandoffHarness:
        if self._store_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kefu-handoff-")
            self._store_url = f"sqlite+aiosqlite:///{Path(self._tmp.name) / 'kefu.db'}"
        self.store = await Store.open(self._store_url)
        self.handoff = HandoffService(
            self.store,
            self.handoff_settings,
            slack_channel=self.slack_channel,
            desks=build_desks(self.handoff_settings),
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        add_export_route(app, self.store, API_KEY)
        adapters = {**self._adapters, "handoff": self.handoff.adapter_factory}
        self.runtime = Runtime(
            self.store, self.engine, self._brains, adapters, self._options, web_app=app
        )
        self.handoff.bind(self.runtime)
        await self.runtime.start()
        return self


async def eventually(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.02)


@dataclass
class Rig:
    harness: KefuHarness
    tg: FakeTelegramServer
    slack: FakeSlack
    engine: StubEngine
    session: aiohttp.ClientSession
    staff: SlackEventSender

    async def customer(self, update: dict[str, Any]) -> int:
        """Deliver a Telegram update to kefu's webhook, as Telegram does."""
        url = f"{self.harness.base_url}/telegram/webhook"
        async with self.session.post(
            url, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        ) as r:
            return r.status

    async def idle(self) -> None:
        await self.harness.wait_until_idle(timeout=20)

    def customer_texts(self) -> list[str]:
        return self.tg.chat_texts(42)

    def parents(self) -> list[PostedMessage]:
        """Handoff threads' first messages in the staff channel."""
        return [m for m in self.slack.messages.values()
                if m.channel == STAFF_CHANNEL and m.thread_ts is None]  # fmt: skip

    def thread_texts(self, parent: PostedMessage) -> list[str]:
        return [m.text for m in self.slack.thread(STAFF_CHANNEL, parent.ts)]

    async def export(self, key: str) -> tuple[int, Any]:
        url = f"{self.harness.base_url}/v1/conversations/{quote(key, safe='')}/export"
        async with self.session.get(url, headers={"Authorization": f"Bearer {API_KEY}"}) as r:
            return r.status, await r.json()


@asynccontextmanager
async def running_kefu(
    handoff: HandoffSettings | None = None,
    store_url: str | None = None,
    engine: StubEngine | None = None,
    webhook: WebhookSettings | None = None,
) -> AsyncIterator[Rig]:
    """Fake Telegram + fake Slack + kefu (Telegram webhook mode, Slack Events API), and the
    generic webhook adapter when ``webhook`` settings are given."""
    settings = handoff or HandoffSettings(poll_interval_s=0.1)
    engine = engine or StubEngine()
    with tempfile.TemporaryDirectory(prefix="kefu-handoff-tg-") as folder:
        async with (
            FakeTelegramServer() as tg,
            FakeSlack() as slack,
            aiohttp.ClientSession() as session,
        ):
            tg_config = webhook_settings(
                tg, album_journal_path=str(Path(folder) / "albums.db"), stream_edit_interval_s=0.2
            )
            slack_config = slack_settings(slack, staff_channel=STAFF_CHANNEL)

            def telegram(context: AdapterContext) -> TelegramAdapter:
                return TelegramAdapter(context, tg_config)

            def slack_adapter(context: AdapterContext) -> SlackAdapter:
                return SlackAdapter(context, slack_config)

            adapters: dict[str, AdapterFactory] = {"telegram": telegram, "slack": slack_adapter}
            if webhook is not None:
                adapters["webhook"] = lambda context: WebhookAdapter(context, webhook)
            harness = HandoffHarness(
                settings,
                engine=engine,
                store_url=store_url,
                adapters=adapters,
                brains={Role.CUSTOMER: PolicyBrain(), Role.STAFF: PromptBrain()},
            )
            async with harness:
                staff = SlackEventSender(f"{harness.base_url}/slack/events", SIGNING_SECRET)
                yield Rig(harness, tg, slack, engine, session, staff)
