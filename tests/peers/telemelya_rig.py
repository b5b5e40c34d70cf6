"""telemelya, a mock Telegram Bot API that kefu did not write, started beside kefu for tests.

:class:`Telemelya` starts ``tests/peers/telemelya_launcher.py`` with the peer virtualenv's
Python (``.venv-peers/telegram``, made by ``scripts/setup.sh --dev``) and talks to its control
API: deliver an update to the registered webhook, upload a photo, read what the bot sent.

What telemelya 0.2.2 does not do, and what these tests do about it:

- It ignores ``setWebhook``'s ``secret_token`` and delivers updates without the
  ``X-Telegram-Bot-Api-Secret-Token`` header, which kefu requires. :class:`SecretRelay` stands
  between them and adds the header real Telegram would send; nothing else is changed.
- It knows no draft, business or stop-button method or update (Bot API 9.0–10.3): an unknown
  method is a 404, as on an older Bot API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from tests.peers.venv import require_peer

LAUNCHER = Path(__file__).with_name("telemelya_launcher.py")
REDIS_URL = os.environ.get("KEFU_TEST_REDIS", "redis://127.0.0.1:6379/12")
START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Sent:
    """One Bot API call telemelya recorded (its ``responses`` log)."""

    method: str
    chat_id: int | None
    message_id: int | None
    text: str | None
    raw: dict[str, Any]


class Telemelya:
    """A running telemelya; one test session id, so tests never see each other's calls."""

    def __init__(self) -> None:
        self.session_id = f"kefu-{uuid.uuid4().hex}"
        self.token = f"123456:kefu-{uuid.uuid4().hex[:12]}"
        self._process: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """PTB's ``base_url``: the token is appended to it."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        """PTB's ``base_file_url`` (Telegram's ``/file/bot<token>/<path>`` layout)."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def __aenter__(self) -> Telemelya:
        python = require_peer()
        self._process = await asyncio.create_subprocess_exec(
            str(python), "-I", str(LAUNCHER), REDIS_URL,  # -I: none of kefu's paths
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), START_TIMEOUT_S)
        if not line:
            raise RuntimeError(f"telemelya did not start (exit {await self._process.wait()})")
        self.port = int(json.loads(line)["port"])
        headers = {"Authorization": "Bearer kefu-tests", "X-Test-Session": self.session_id}
        self._http = aiohttp.ClientSession(headers=headers)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            with contextlib.suppress(aiohttp.ClientError):
                await self._control("POST", "reset")
                # The webhook registry has no expiry in telemelya's Redis.
                await self._http.post(f"{self.base_url}{self.token}/deleteWebhook")
            await self._http.close()
        if self._process is not None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    async def _control(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        assert self._http is not None
        url = f"http://127.0.0.1:{self.port}/api/v1/test/{path}"
        async with self._http.request(method, url, **kwargs) as response:
            body: dict[str, Any] = await response.json()
            if response.status >= 400:
                raise AssertionError(f"telemelya {path}: {response.status} {body}")
            return body

    async def webhook(self) -> str:
        """The URL the bot registered with ``setWebhook`` ('' when none)."""
        assert self._http is not None
        url = f"{self.base_url}{self.token}/getWebhookInfo"
        async with self._http.post(url) as response:
            return str((await response.json())["result"]["url"])

    async def send_update(self, chat_id: int, **fields: Any) -> dict[str, Any]:
        """Have telemelya build an update and POST it to the webhook; its delivery report."""
        body = await self._control(
            "POST",
            "send_update",
            params={"bot_token": self.token},
            json={"chat_id": chat_id, **fields},
        )
        delivery: dict[str, Any] = body["delivery"]
        return delivery

    async def upload_photo(self, data: bytes, filename: str = "photo.jpg") -> str:
        """Store a photo in telemelya; the ``file_id`` an update can carry."""
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type="image/jpeg")
        body = await self._control("POST", "upload_media", data=form)
        return str(body["file_id"])

    async def sent(self) -> list[Sent]:
        """Every Bot API call telemelya recorded for this session, in order."""
        body = await self._control("GET", "responses")
        return [
            Sent(
                r["method"],
                r.get("chat_id"),
                r.get("message_id"),
                r.get("text"),
                r.get("raw") or {},
            )
            for r in body["responses"]
        ]


class SecretRelay:
    """Forwards telemelya's webhook POSTs to kefu with the secret header Telegram would add."""

    def __init__(self, secret: str, header: str) -> None:
        self.target = ""  # kefu's webhook, known once kefu listens
        self._headers = {header: secret}
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""
        self.add_secret = True
        self.statuses: list[int] = []

    async def __aenter__(self) -> SecretRelay:
        app = web.Application()
        app.router.add_post("/relay", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._http = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/relay"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {"Content-Type": request.content_type}
        if self.add_secret:
            headers.update(self._headers)
        async with self._http.post(self.target, data=body, headers=headers) as response:
            self.statuses.append(response.status)
            return web.Response(status=response.status, body=await response.read())
