"""The API's shape: /v1 as a sub-application with its own error middleware, and the
operational routes beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from core.api.routes import ServiceOptions
from core.api.serving import SERVICE_KEY, mount_api
from core.engines.stub import StubEngine
from core.errors import StoreError


async def _failing_adapter_route(_request: web.Request) -> web.Response:
    raise StoreError("an adapter's own failure")


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    v1 = mount_api(app, StubEngine(), ServiceOptions())
    app.router.add_post("/adapter/hook", _failing_adapter_route)  # an adapter's route
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", v1
    await runner.cleanup()


async def test_errors_under_v1_are_openai_shaped_and_others_are_left_alone(
    served: tuple[str, web.Application],
) -> None:
    url, v1 = served
    assert isinstance(v1[SERVICE_KEY].engine, StubEngine)  # the typed key holds the service
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v1/no-such-route") as missing:
            assert missing.status == 404
            assert (await missing.json())["error"]["type"] == "invalid_request_error"
        async with session.post(f"{url}/adapter/hook") as adapter:
            assert adapter.status == 500  # aiohttp's own answer: the middleware is /v1's only
            assert "error" not in (await adapter.text())[:20]
        async with session.get(f"{url}/healthz") as health:
            assert (await health.json()) == {"status": "ok"}
        async with session.get(f"{url}/readyz") as ready:
            assert ready.status == 200


async def test_without_an_engine_only_the_operational_routes_are_served() -> None:
    app = web.Application()
    mount_api(app, None, ServiceOptions())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/v1/chat/completions", json={}) as chat:
                assert chat.status == 404
            async with session.get(f"{url}/healthz") as health:
                assert health.status == 200
    finally:
        await runner.cleanup()
