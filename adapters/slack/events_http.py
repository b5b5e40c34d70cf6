"""The Events API / interactivity endpoint: cheap checks before the body is read, then bolt.

Unsigned or stale requests are refused from their headers alone, before any of the body is
read (bolt then verifies the HMAC itself); bodies are read with a cap even without a
``Content-Length``; a body bolt cannot parse is a 400, never a 500.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

SIGNATURE_TOLERANCE_S = 300  # what bolt's verifier accepts


def signature_headers_look_valid(headers: Mapping[str, str], now: float | None = None) -> bool:
    """Slack's signature headers are there, well formed and fresh (bolt checks the HMAC)."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or len(timestamp) > 12 or not signature.startswith("v0="):
        return False
    return abs((time.time() if now is None else now) - int(timestamp)) <= SIGNATURE_TOLERANCE_S


async def read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is longer than ``limit`` (declared or streamed)."""
    if (request.content_length or 0) > limit:
        return None
    raw = await request.content.read(limit + 1)
    while len(raw) <= limit and (more := await request.content.read(limit + 1 - len(raw))):
        raw += more  # bounded even without Content-Length
    return None if len(raw) > limit else raw


async def dispatch_events(
    app: AsyncApp | None, request: web.Request, max_body_bytes: int
) -> web.StreamResponse:
    """Hand one signed Events API or interactivity request to bolt (None: not started)."""
    if app is None:  # not started yet (or stopped): Slack retries the event
        return web.Response(status=503, text="starting")
    if not signature_headers_look_valid(request.headers):  # before the body is read
        return web.Response(status=401, text="missing or stale signature headers")
    raw = await read_capped(request, max_body_bytes)
    if raw is None:
        return web.Response(status=413, text="payload too large")
    try:
        bolt_request = AsyncBoltRequest(
            body=raw.decode("utf-8"), query=request.query_string, headers=dict(request.headers)
        )
    except (ValueError, RecursionError):  # undecodable, unparsable or nested too deeply
        return web.Response(status=400, text="malformed body")
    return await to_aiohttp_response(await app.async_dispatch(bolt_request))
