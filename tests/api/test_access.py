"""Scoped credentials: inference, operator and metrics are granted separately, and each
has a safe default when its credential is not set."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from core.api.access import AccessOptions, Scope, check_access
from core.api.routes import ServiceOptions
from core.api.serving import mount_api
from core.engines.stub import StubEngine

Get = Callable[[str, str | None], Awaitable[int]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[AccessOptions], Awaitable[Get]]]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def start(access: AccessOptions) -> Get:
        app = web.Application()
        mount_api(app, StubEngine(), ServiceOptions(access))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        session = aiohttp.ClientSession()
        cleanups.extend([runner.cleanup, session.close])
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"

        async def get(path: str, token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with session.get(base + path, headers=headers) as response:
                return response.status

        return get

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()


async def test_each_scope_opens_only_with_its_own_token(serve) -> None:  # type: ignore[no-untyped-def]
    get = await serve(AccessOptions(api_key="inf", operator_token="ops", metrics_token="met"))
    assert await get("/v1/models", "inf") == 200
    assert await get("/metrics", "met") == 200
    for token in ("ops", "met", None, "wrong"):
        assert await get("/v1/models", token) == 401
    for token in ("inf", "ops", None):
        assert await get("/metrics", token) == 401


async def test_defaults_without_credentials_are_closed(serve) -> None:  # type: ignore[no-untyped-def]
    get = await serve(AccessOptions())
    assert await get("/v1/models", None) == 403  # not a loopback bind, not allowed
    assert await get("/metrics", None) == 403
    assert await get("/metrics", "guess") == 403


async def test_open_inference_and_public_metrics_are_explicit(serve) -> None:  # type: ignore[no-untyped-def]
    get = await serve(AccessOptions(open_inference=True, metrics_public=True))
    assert await get("/v1/models", None) == 200
    assert await get("/metrics", None) == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [("Bearer ops", None), ("bearer ops", None), ("ops", 401), ("Basic ops", 401), ("", 401)],
)
def test_check_access_wants_the_bearer_token(header: str, status: int | None) -> None:
    request = make_mocked_request("GET", "/x", headers={"Authorization": header} if header else {})
    refusal = check_access(request, Scope.OPERATOR, AccessOptions(operator_token="ops"))
    assert (refusal.status if refusal else None) == status


def test_operator_scope_is_refused_without_a_token_whatever_else_is_open() -> None:
    request = make_mocked_request("GET", "/x", headers={"Authorization": "Bearer "})
    options = AccessOptions(open_inference=True, metrics_public=True)
    refusal = check_access(request, Scope.OPERATOR, options)
    assert refusal is not None and refusal.status == 403
    assert check_access(request, Scope.INFERENCE, options) is None
