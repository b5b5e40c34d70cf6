"""A fake webhook callback receiver: records kefu's reply callbacks and verifies them.

It is a real aiohttp server on 127.0.0.1 (port 0). Every callback's Standard Webhooks
signature is checked with the reference ``standardwebhooks`` library, so a test passing
against it proves interoperability. It can be scripted to fail the next K calls
(500, 429 with ``Retry-After``, 410, ...).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True, slots=True)
class ReceivedCallback:
    """One callback as received.

    Attributes:
        webhook_id: The ``webhook-id`` header.
        headers: All request headers, lower-cased names.
        body: The parsed JSON body (None if it was not JSON).
        verified: True if the signature verified with the library.
        answered: The status the fake answered with.
    """

    webhook_id: str
    headers: dict[str, str]
    body: Any
    verified: bool
    answered: int


@dataclass(frozen=True, slots=True)
class _ScriptedFailure:
    status: int
    retry_after: str | None


class CallbackReceiver:
    """Records callbacks POSTed to ``url``.

    Args:
        secret: The ``whsec_`` secret the sender signs with (verified with the library).
    """

    def __init__(self, secret: str) -> None:
        self._verifier = Webhook(secret)
        self.calls: list[ReceivedCallback] = []
        self._failures: deque[_ScriptedFailure] = deque()
        self._arrived = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/callback", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self.url = ""

    async def __aenter__(self) -> CallbackReceiver:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/callback"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    def fail_next(self, count: int, status: int = 500, retry_after: str | None = None) -> None:
        """Answer the next ``count`` callbacks with ``status`` (and ``Retry-After``)."""
        self._failures.extend(_ScriptedFailure(status, retry_after) for _ in range(count))

    @property
    def delivered(self) -> list[ReceivedCallback]:
        """Callbacks that verified and were answered 2xx."""
        return [c for c in self.calls if c.verified and 200 <= c.answered < 300]

    async def wait_for(self, count: int, within_s: float = 10.0) -> list[ReceivedCallback]:
        """Wait until at least ``count`` callbacks arrived (any outcome); return them all."""
        async with asyncio.timeout(within_s), self._arrived:
            await self._arrived.wait_for(lambda: len(self.calls) >= count)
        return list(self.calls)

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            self._verifier.verify(raw, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        failure = self._failures.popleft() if verified and self._failures else None
        status = 401 if not verified else failure.status if failure else 200
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        async with self._arrived:
            self.calls.append(
                ReceivedCallback(headers.get("webhook-id", ""), headers, body, verified, status)
            )
            self._arrived.notify_all()
        response_headers = (
            {"Retry-After": failure.retry_after} if failure and failure.retry_after else None
        )
        return web.Response(
            status=status, text="ok" if status == 200 else "no", headers=response_headers
        )
