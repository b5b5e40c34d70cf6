"""The API's shape: /v1 as a sub-application with its own error middleware, and the
operational routes beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.api.serving import SERVICE_KEY, mount_api
from core.engines.stub import StubEngine
from core.errors import EngineError, StoreError


async def _failing_adapter_route(_request: web.Request) -> web.Response:
    raise StoreError("an adapter's own failure")


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    v1 = mount_api(app, StubEngine(), ServiceOptions(AccessOptions(open_inference=True)))
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
    mount_api(app, None, ServiceOptions(AccessOptions(open_inference=True)))
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


async def _metrics_text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(f"{url}/metrics", headers={"Authorization": "Bearer m"}) as response:
        assert response.status == 200
        return await response.text()


async def test_metrics_label_route_templates_not_paths() -> None:
    app = web.Application()
    access = AccessOptions(open_inference=True, metrics_token="m")
    mount_api(app, StubEngine(), ServiceOptions(access))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(300):
                async with session.get(f"{url}/v1/conversations/telegram%7C{n}/x{n}"):
                    pass
            async with session.get(f"{url}/v1/models"):
                pass
            before = len(await _metrics_text(session, url))
            for n in range(300, 600):
                async with session.get(f"{url}/v1/random/{n}/path"):
                    pass
            text = await _metrics_text(session, url)
    finally:
        await runner.cleanup()
    ours = [line for line in text.splitlines() if line.startswith("kefu_service_requests")]
    assert any('endpoint="/v1/models"' in line for line in ours)
    assert any('endpoint="unmatched"' in line for line in ours)
    assert not [line for line in ours if "telegram" in line or "/v1/random" in line]
    assert len(text) - before < 200  # 300 more paths, not one more series


async def test_healthz_fails_when_the_disk_is_full(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = web.Application()
    options = ServiceOptions(health_paths=(str(tmp_path),), min_free_bytes=2**62)
    mount_api(app, None, options)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as health:
            assert health.status == 503
            assert await health.json() == {"status": "disk_full"}
    finally:
        await runner.cleanup()


async def test_server_errors_do_not_show_internal_text(
    served: tuple[str, web.Application],
) -> None:
    url, v1 = served
    engine = v1[SERVICE_KEY].engine
    assert isinstance(engine, StubEngine)
    engine.fail_with = EngineError("cannot connect to host 10.9.8.7:8000 [Connection refused]")
    async with aiohttp.ClientSession() as session:
        body = {"messages": [{"role": "user", "content": "hi"}]}
        async with session.post(f"{url}/v1/chat/completions", json=body) as response:
            text = await response.text()
    assert response.status == 503 and "10.9.8.7" not in text
