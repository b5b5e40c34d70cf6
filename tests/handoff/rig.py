"""A whole kefu with Telegram and Slack pointed at their fakes, plus the handoff service.

:class:`HandoffHarness` builds kefu with ``main.assemble``, the composition root itself,
from settings whose platforms point at the fakes, plus the export route.
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

import main
from adapters.slack.settings import SlackSettings
from adapters.telegram.adapter import SECRET_HEADER
from adapters.telegram.settings import TelegramSettings
from adapters.webhook.settings import WebhookSettings
from config.handoff import HandoffSettings
from core.answering.prompt_brain import PromptBrain
from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.api.serving import mount_api
from core.engines.stub import StubEngine
from core.handoff.service import HandoffService
from core.model.turn import Role
from core.runtime.runtime import Runtime
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
    """KefuHarness wired by ``main.assemble``: the configured platforms, the staff desk of
    ``handoff.target``, the handoff service, and the export route.

    Args:
        handoff: Handoff settings.
        platforms: Settings section per platform (``telegram``, ``slack``, ``webhook``).
    """

    def __init__(
        self,
        handoff: HandoffSettings,
        platforms: dict[str, TelegramSettings | SlackSettings | WebhookSettings] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.handoff_settings = handoff
        self.platforms = platforms or {}
        self.handoff: HandoffService | None = None

    def build_runtime(self, store: Store, app: web.Application) -> Runtime:
        settings = main.load_settings(
            handoff=self.handoff_settings,
            worker={
                "poll_interval_s": self._options.poll_interval_s,
                "delivery_retry_schedule_s": list(self._options.delivery_schedule_s),
                "concurrency": self._options.worker_concurrency,
            },
            service={"port": 0},
            **self.platforms,
        )
        mount_api(app, None, ServiceOptions(AccessOptions(operator_token=API_KEY)), store)
        runtime = main.assemble(settings, store, self.engine, self._brains, app)
        self.handoff = next((s for s in runtime.services if isinstance(s, HandoffService)), None)
        return runtime


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
    settings = handoff or HandoffSettings(target="slack", poll_interval_s=0.1)
    engine = engine or StubEngine()
    with tempfile.TemporaryDirectory(prefix="kefu-handoff-tg-") as folder:
        async with (
            FakeTelegramServer() as tg,
            FakeSlack() as slack,
            aiohttp.ClientSession() as session,
        ):
            platforms: dict[str, Any] = {
                "telegram": webhook_settings(
                    tg,
                    album_journal_path=str(Path(folder) / "albums.db"),
                    stream_edit_interval_s=0.2,
                ),
                "slack": slack_settings(slack, staff_channel=STAFF_CHANNEL),
            }
            if webhook is not None:
                platforms["webhook"] = webhook
            harness = HandoffHarness(
                settings,
                platforms,
                engine=engine,
                store_url=store_url,
                brains={Role.CUSTOMER: PolicyBrain(), Role.STAFF: PromptBrain()},
            )
            async with harness:
                staff = SlackEventSender(f"{harness.base_url}/slack/events", SIGNING_SECRET)
                yield Rig(harness, tg, slack, engine, session, staff)
