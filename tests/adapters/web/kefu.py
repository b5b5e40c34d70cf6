"""A whole kefu with the web chat and the operator desk, wired by ``main.assemble``."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

import main
from core.answering.bot import BotBrain
from core.answering.prompt_brain import PromptBrain
from core.engines.base import Engine
from core.engines.stub import StubEngine
from core.model.turn import Role
from core.runtime.runtime import Runtime
from core.store.store import Store

TOKEN = "operator-token-for-tests-0123456789"
DATA = Path(__file__).resolve().parents[2] / "data"


@dataclass
class WebKefu:
    runtime: Runtime
    store: Store

    @property
    def url(self) -> str:
        return self.runtime.base_url


@asynccontextmanager
async def web_kefu(
    engine: Engine | None = None,
    brains: Mapping[Role, BotBrain] | None = None,
    token: str | None = TOKEN,
    **settings: Any,
) -> AsyncIterator[WebKefu]:
    """kefu serving ``/`` and ``/ops`` on a free port, its store in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="kefu-web-") as folder:
        store = await Store.open(f"sqlite+aiosqlite:///{Path(folder) / 'kefu.db'}")
        service: dict[str, Any] = {"port": 0, "operator_token": token}
        options = main.load_settings(
            service=service,
            worker={"poll_interval_s": 0.05, "delivery_retry_schedule_s": [0.2, 0.5]},
            handoff={"poll_interval_s": 0.2},
            **settings,
        )
        brain = PromptBrain()
        chosen = brains or {Role.CUSTOMER: brain, Role.STAFF: brain}
        runtime = main.assemble(options, store, engine or StubEngine(), chosen, web.Application())
        await runtime.start()
        try:
            yield WebKefu(runtime, store)
        finally:
            await runtime.stop()
            await store.close()


class ChatClient:
    """A browser's session of the chat page, over HTTP (the browser tests use Chromium)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.http = session
        self.url = url

    async def open(self) -> dict[str, Any]:
        async with self.http.get(self.url + "/web/api/session") as response:
            assert response.status == 200
            return dict(await response.json())

    async def send(
        self,
        text: str = "",
        *,
        images: tuple[bytes, ...] = (),
        command: str = "",
        status: int = 202,
    ) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("client_id", uuid.uuid4().hex)
        form.add_field("text", text)
        if command:
            form.add_field("command", command)
        for index, data in enumerate(images):
            form.add_field("image", data, filename=f"p{index}.png", content_type="image/png")
        async with self.http.post(self.url + "/web/api/messages", data=form) as response:
            body = dict(await response.json())
            assert response.status == status, body
            return body


async def read_events(
    session: aiohttp.ClientSession,
    url: str,
    until: str,
    after: int = 0,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Server-sent events from ``url`` until one whose data contains ``until``."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    async with session.get(
        url,
        params={"after": str(after)},
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as response:
        assert response.status == 200
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                events.append((kind, data))
                if until in json.dumps(data, ensure_ascii=False):
                    return events
    raise AssertionError(f"stream ended before {until!r}: {events}")
