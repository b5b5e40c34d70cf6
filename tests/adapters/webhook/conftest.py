"""Shared pieces for the webhook adapter tests: secrets, signing, an in-memory inbox,
and the adapter served on a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.settings import WebhookSettings, WebhookSource
from adapters.webhook.signing import parse_secret, signed_headers
from core.errors import StoreError
from core.media.fetch import SafeFetcher
from core.model.turn import Button, Command, Confidence, ConversationKey, Reply, ReplyKind, Turn
from core.ports import AdapterContext, IngestResult, OutboundMessage

SECRET = "whsec_" + base64.b64encode(b"kefu-webhook-test-secret-0123456").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"kefu-webhook-old-secret-76543210").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody-else-entirely-secret-99").decode()


def png_bytes(
    size: tuple[int, int] = (16, 12), color: tuple[int, int, int] = (10, 120, 200)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def png_b64(size: tuple[int, int] = (16, 12)) -> str:
    return base64.b64encode(png_bytes(size)).decode()


def sign(
    body: bytes, webhook_id: str, secret: str = SECRET, now: float | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for ``body`` (kefu's signer; interop is tested separately)."""
    return signed_headers(parse_secret(secret), webhook_id, body, now)


def message(text: str | None = "hello", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"conversation_id": "conv-1", "user": {"id": "u-1", "name": "Ann"}}
    if text is not None:
        body["text"] = text
    body.update(extra)
    return body


KEY = ConversationKey("webhook", "conv-1", source="shop")


def outbound(
    outbox_id: int,
    turn_id: int | None,
    seq: int = 1,
    final: bool = True,
    body: str = "Echo: hello",
    attempt: int = 1,
) -> OutboundMessage:
    reply = Reply(
        KEY,
        body,
        ReplyKind.ANSWER,
        reply_to="msg_test_1",
        confidence=Confidence(0.8, reasons=("grounded",)),
        buttons=(Button("Talk to a person", Command.HUMAN),),
    )
    return OutboundMessage(outbox_id, reply, turn_id, seq, final, attempt=attempt)


def make_settings(callback_url: str | None = None, **overrides: Any) -> WebhookSettings:
    source = WebhookSource(secret=SECRET, previous_secrets=[OLD_SECRET], callback_url=callback_url)
    return WebhookSettings(sources={"shop": source}, **overrides)


class MemoryInbox:
    """An InboxPort in memory: idempotent on (platform, message id), like the real store."""

    def __init__(self) -> None:
        self.turns: dict[int, Turn] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self.fail_with: StoreError | None = None
        self.stored = asyncio.Event()  # set once a turn has been stored

    async def put(self, turn: Turn) -> IngestResult:
        if self.fail_with is not None:
            raise self.fail_with
        dedupe = (turn.key.channel, turn.message_id)
        if dedupe in self._ids:
            return IngestResult(self._ids[dedupe], duplicate=True)
        turn_id = len(self.turns) + 1
        self.turns[turn_id] = turn
        self._ids[dedupe] = turn_id
        self.stored.set()
        return IngestResult(turn_id, duplicate=False)


@dataclass
class Served:
    """A WebhookAdapter behind a real HTTP server, plus a client session."""

    adapter: WebhookAdapter
    inbox: MemoryInbox
    base_url: str
    session: aiohttp.ClientSession
    counter: list[int] = field(default_factory=lambda: [0])

    async def post(
        self,
        body: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        source: str = "shop",
        query: str = "",
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
        now: float | None = None,
    ) -> aiohttp.ClientResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if webhook_id is None:
            self.counter[0] += 1
            webhook_id = f"msg_test_{self.counter[0]}"
        all_headers = {"Content-Type": "application/json", **sign(raw, webhook_id, secret, now)}
        all_headers.update(headers or {})
        url = f"{self.base_url}/webhooks/{source}{query}"
        response = await self.session.post(url, data=raw, headers=all_headers)
        await response.read()
        return response


ServeFactory = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    """Start the adapter on 127.0.0.1:0; ``await serve(settings=..., fetcher=...)``."""
    runners: list[tuple[web.AppRunner, WebhookAdapter, aiohttp.ClientSession]] = []

    async def start(
        settings: WebhookSettings | None = None,
        fetcher: SafeFetcher | None = None,
        clock: Callable[[], float] = time.time,
        inbox: MemoryInbox | None = None,
    ) -> Served:
        inbox = inbox or MemoryInbox()
        app = web.Application()
        adapter = WebhookAdapter(
            AdapterContext(inbox=inbox, web=app),
            settings or make_settings(),
            fetcher=fetcher,
            clock=clock,
        )
        await adapter.start()
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        session = aiohttp.ClientSession()
        runners.append((runner, adapter, session))
        base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return Served(adapter, inbox, base_url, session)

    yield start
    for runner, adapter, session in runners:
        await session.close()
        await adapter.stop()
        await runner.cleanup()
