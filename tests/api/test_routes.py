"""The OpenAI-compatible core service, driven by the official ``openai`` client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
from aiohttp import web

from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.api.serving import build_service_app
from core.engines.stub import StubEngine
from core.errors import EngineError
from tests.conftest import png_bytes


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def service() -> AsyncIterator[tuple[str, StubEngine]]:
    engine = StubEngine()
    runner, url = await _serve(
        build_service_app(
            engine, ServiceOptions(AccessOptions(api_key="sk-test", metrics_token="m-token"))
        )
    )
    yield url, engine
    await runner.cleanup()


def _client(url: str, key: str = "sk-test") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


async def test_openai_client_completion_with_logprobs(service) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    result = await _client(url).chat.completions.create(
        model="kefu",
        messages=[{"role": "user", "content": "Do you ship to Shanghai?"}],
        logprobs=True,
        top_logprobs=2,
        max_tokens=50,
    )
    assert result.choices[0].message.content == "Echo: Do you ship to Shanghai?"
    assert result.choices[0].finish_reason == "stop"
    assert result.choices[0].logprobs is not None
    assert all(t.logprob <= 0 for t in result.choices[0].logprobs.content)
    assert result.usage is not None and result.usage.completion_tokens == 6
    assert 0 <= result.model_extra["confidence"]["score"] <= 1


async def test_openai_client_streaming(service) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    stream = await _client(url).chat.completions.create(
        model="kefu",
        messages=[{"role": "user", "content": "hello there"}],
        stream=True,
        logprobs=True,
        stream_options={"include_usage": True},
    )
    pieces, logprobs, usage = [], 0, None
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            logprobs += len(chunk.choices[0].logprobs.content) if chunk.choices[0].logprobs else 0
        usage = chunk.usage or usage
    assert "".join(pieces) == "Echo: hello there"
    assert logprobs == 3 and usage is not None


async def test_image_url_data_uri_reaches_the_engine(service) -> None:  # type: ignore[no-untyped-def]
    url, engine = service
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    result = await _client(url).chat.completions.create(
        model="kefu",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": data_uri}},
                ],
            }
        ],
    )
    assert result.choices[0].message.content == "Echo: What is this? [1 image(s)]"
    assert engine.requests[-1].messages[-1].images[0].width == 64


async def test_bad_requests_get_openai_error_shape(service) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    client = _client(url)
    with pytest.raises(openai.AuthenticationError):
        await _client(url, key="wrong").chat.completions.create(
            model="kefu", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError) as corrupt:
        await client.chat.completions.create(
            model="kefu",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64,"
                                + base64.b64encode(b"not a png").decode()
                            },
                        }
                    ],
                }
            ],
        )
    assert corrupt.value.body["code"] in ("unsupported_image_format", "invalid_image")  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="remote image URLs are disabled"):
        await client.chat.completions.create(
            model="kefu",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest"}}
                    ],
                }
            ],
        )
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="kefu", messages=[])
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer sk-test"}) as session:
        response = await session.post(f"{url}/v1/chat/completions", data=b"{not json")
        body = await response.json()
    assert response.status == 400 and set(body["error"]) == {"message", "type", "param", "code"}


async def test_models_health_and_readiness(service) -> None:  # type: ignore[no-untyped-def]
    url, engine = service
    models = await _client(url).models.list()
    assert [m.id for m in models.data] == ["kefu-stub"]
    async with aiohttp.ClientSession() as session:
        assert (await session.get(f"{url}/healthz")).status == 200
        assert (await session.get(f"{url}/readyz")).status == 200
        engine.fail_with = EngineError("not loaded from http://10.1.2.3:8000")
        not_ready = await session.get(f"{url}/readyz")
        assert not_ready.status == 503 and await not_ready.json() == {"ready": False}
        headers = {"Authorization": "Bearer m-token"}
        metrics = await (await session.get(f"{url}/metrics", headers=headers)).text()
    assert "kefu_service_requests_total" in metrics


async def test_engine_error_maps_to_503(service) -> None:  # type: ignore[no-untyped-def]
    url, engine = service
    engine.fail_with = EngineError("model crashed")
    with pytest.raises(openai.InternalServerError):
        await _client(url).chat.completions.create(
            model="kefu", messages=[{"role": "user", "content": "x"}]
        )
