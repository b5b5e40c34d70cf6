"""The Events API endpoint's checks before bolt: signature headers, capped bodies, not started."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from adapters.slack.events_http import (
    SIGNATURE_TOLERANCE_S,
    dispatch_events,
    read_capped,
    signature_headers_look_valid,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "fresh"),
    [
        ({"X-Slack-Request-Timestamp": str(int(NOW)), "X-Slack-Signature": "v0=ab"}, True),
        ({"X-Slack-Request-Timestamp": str(int(NOW) - SIGNATURE_TOLERANCE_S - 1),
          "X-Slack-Signature": "v0=ab"}, False),
        ({"X-Slack-Request-Timestamp": str(int(NOW)), "X-Slack-Signature": "v1=ab"}, False),
        ({"X-Slack-Request-Timestamp": "17e8", "X-Slack-Signature": "v0=ab"}, False),
        ({"X-Slack-Request-Timestamp": "9" * 13, "X-Slack-Signature": "v0=ab"}, False),
        ({"X-Slack-Signature": "v0=ab"}, False),
        ({}, False),
    ],
)  # fmt: skip
def test_signature_headers(headers: dict[str, str], fresh: bool) -> None:
    assert signature_headers_look_valid(headers, now=NOW) is fresh


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    """A server answering the length read by read_capped(limit=100), or 413 for None."""

    async def handler(request: web.Request) -> web.Response:
        body = await read_capped(request, 100)
        return web.Response(status=413) if body is None else web.Response(text=str(len(body)))

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


async def test_bodies_are_read_up_to_the_cap(echo_url: str) -> None:
    async def chunks(size: int) -> AsyncIterator[bytes]:
        for _ in range(size // 10):
            yield b"x" * 10

    async with aiohttp.ClientSession() as session:
        async with session.post(echo_url, data=b"x" * 100) as response:
            assert (response.status, await response.text()) == (200, "100")
        async with session.post(echo_url, data=b"x" * 101) as response:
            assert response.status == 413  # declared too long
        async with session.post(echo_url, data=chunks(500)) as response:
            assert response.status == 413  # chunked, no Content-Length, still capped


async def test_before_the_start_events_are_refused_for_a_retry() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await dispatch_events(None, request, 100)

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
            async with session.post(url, data=b"{}") as response:
                assert response.status == 503
    finally:
        await runner.cleanup()
