"""Tests for core.engines.openai_engine against a fake OpenAI-compatible server.

The fake is a real aiohttp server on 127.0.0.1 (port 0) that records requests and streams
server-sent events the way vLLM / llama.cpp / kefu's own service do; the engine talks to it
over real HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from core.engines.base import ChatMessage, GenerationChunk, GenerationRequest, collect
from core.engines.openai_engine import OpenAIEngine
from core.engines.options import EngineKind, EngineOptions
from core.errors import EngineError, EngineOverloadedError
from core.media.images import normalise_image
from core.model.turn import TextPart

DATA = Path(__file__).parents[1] / "data"
TOKENS = [
    ("Your", -0.01),
    (" order", -0.02),
    (" SO20261102-0042", -0.9),
    (" shipped", -0.05),
    (".", -0.001),
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sse(payload: Any) -> bytes:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()


def token_event(token: str, logprob: float, top: int, finish: str | None = None) -> dict[str, Any]:
    alternatives = [{"token": token, "logprob": logprob}] + [
        {"token": f"alt{i}", "logprob": logprob - 1 - i} for i in range(max(0, top - 1))
    ]
    entry = {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": alternatives[:top],
    }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "kefu",
        "choices": [
            {
                "index": 0,
                "delta": {"content": token},
                "logprobs": {"content": [entry]},
                "finish_reason": finish,
            }
        ],
    }


class FakeOpenAI:
    """A recording OpenAI-compatible server. Set ``handler`` to script a test's behaviour."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.models = ["kefu", "other-model"]
        self.handler: Handler = self.stream_tokens
        self.token_delay_s = 0.0
        self.tokens = TOKENS
        self.disconnected = asyncio.Event()
        self.url = ""
        self.attempts = 0

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        return await self.handler(request)

    async def record(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append(({k.lower(): v for k, v in request.headers.items()}, body))
        return body

    async def open_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        return response

    async def write(self, response: web.StreamResponse, data: bytes) -> bool:
        try:
            await response.write(data)
            return True
        except (ConnectionResetError, RuntimeError):
            self.disconnected.set()
            return False

    async def stream_tokens(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        top = body.get("top_logprobs", 0) if body.get("logprobs") else 0
        response = await self.open_stream(request)
        await self.write(response, b": keep-alive comment\n\n")
        await self.write(response, sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
        for index, (token, logprob) in enumerate(self.tokens):
            finish = "stop" if index == len(self.tokens) - 1 else None
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            if not await self.write(response, sse(token_event(token, logprob, top, finish))):
                return response
        usage = {
            "prompt_tokens": 12,
            "completion_tokens": len(self.tokens),
            "total_tokens": 12 + len(self.tokens),
        }
        await self.write(response, sse({"choices": [], "usage": usage}))
        await self.write(response, sse("[DONE]"))
        return response

    async def list_models(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer sk-test":
            return web.json_response({"error": {"message": "bad api key"}}, status=401)
        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]}
        )


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    app.router.add_get("/v1/models", server.list_models)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}/v1"
    yield server
    await runner.cleanup()


def make_engine(base_url: str, *, timeout_s: float = 5.0, **kwargs: Any) -> OpenAIEngine:
    settings = EngineOptions(
        kind=EngineKind.OPENAI,
        base_url=base_url + "/",
        api_key="sk-test",
        remote_model="kefu",
        timeout_s=timeout_s,
    )
    return OpenAIEngine(settings, retry_wait_s=0.01, **kwargs)


@pytest.fixture
async def engine(fake: FakeOpenAI) -> AsyncIterator[OpenAIEngine]:
    engine = make_engine(fake.url)
    await engine.start()
    yield engine
    await engine.stop()


def ask(text: str = "Where is my order?", **kwargs: Any) -> GenerationRequest:
    messages = (
        ChatMessage.text("system", "You are a shop assistant."),
        ChatMessage.text("user", text),
    )
    return GenerationRequest(messages, **kwargs)


async def chunks_of(engine: OpenAIEngine, request: GenerationRequest) -> list[GenerationChunk]:
    return [chunk async for chunk in engine.generate(request)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ----------------------------------------------------------------------------- streaming


async def test_streams_text_logprobs_finish_and_usage(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    request = ask(top_logprobs=3, max_new_tokens=64, stop=("\n\n",), seed=7, temperature=0.2)
    chunks = await chunks_of(engine, request)
    text, logprobs, last = await collect(engine.generate(request))
    assert text == "Your order SO20261102-0042 shipped."
    assert [(lp.token, lp.logprob) for lp in logprobs] == TOKENS
    assert logprobs[2].top == (
        (" SO20261102-0042", -0.9),
        ("alt0", pytest.approx(-1.9)),
        ("alt1", pytest.approx(-2.9)),
    )
    assert last.finish_reason == "stop"
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (12, 5)  # type: ignore[union-attr]
    assert [c.finish_reason for c in chunks[:-1]] == [None] * 5  # only the last chunk finishes
    assert all(c.request_id == request.request_id for c in chunks)

    headers, body = fake.requests[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["x-request-id"] == request.request_id
    assert body["model"] == "kefu"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    assert (body["max_tokens"], body["stop"], body["seed"], body["temperature"]) == (
        64,
        ["\n\n"],
        7,
        0.2,
    )
    assert body["messages"] == [
        {"role": "system", "content": "You are a shop assistant."},
        {"role": "user", "content": "Where is my order?"},
    ]


async def test_optional_fields_are_left_out(fake: FakeOpenAI, engine: OpenAIEngine) -> None:
    await collect(engine.generate(ask(logprobs=False, top_logprobs=5)))
    body = fake.requests[0][1]
    assert body["logprobs"] is False
    assert not {"top_logprobs", "stop", "seed"} & body.keys()


async def test_images_are_sent_as_data_uris_with_their_caption(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    photo = normalise_image((DATA / "price_tag.png").read_bytes(), caption="这个价格对吗？")
    message = ChatMessage("user", (TextPart("Look:"), photo))
    await collect(engine.generate(GenerationRequest((message,))))
    content = fake.requests[0][1]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Look:"}
    assert content[1]["type"] == "image_url"
    prefix = "data:image/png;base64,"
    url = content[1]["image_url"]["url"]
    assert url.startswith(prefix)
    assert base64.b64decode(url[len(prefix) :]) == photo.data
    assert content[2] == {"type": "text", "text": "这个价格对吗？"}


async def test_length_finish_and_missing_usage(fake: FakeOpenAI, engine: OpenAIEngine) -> None:
    async def truncated(request: web.Request) -> web.StreamResponse:
        await fake.record(request)
        response = await fake.open_stream(request)
        await fake.write(response, sse(token_event("Hello", -0.1, 0, finish="length")))
        await fake.write(response, sse("[DONE]"))
        return response

    fake.handler = truncated
    text, logprobs, last = await collect(engine.generate(ask()))
    assert (text, last.finish_reason, last.usage) == ("Hello", "length", None)
    assert len(logprobs) == 1


async def test_stream_without_done_is_accepted_once_finished(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    async def no_done(request: web.Request) -> web.StreamResponse:
        await fake.record(request)
        response = await fake.open_stream(request)
        await fake.write(
            response, sse(token_event("Hi", -0.1, 0, finish="stop")).replace(b"\n\n", b"\n")
        )
        return response  # ends without a blank line or [DONE]

    fake.handler = no_done
    text, _, last = await collect(engine.generate(ask()))
    assert (text, last.finish_reason) == ("Hi", "stop")


# ----------------------------------------------------------------------------- HTTP errors


async def test_http_500_is_an_engine_error_with_the_server_message(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": "model crashed", "type": "server_error"}}, status=500
        )

    fake.handler = broken
    with pytest.raises(EngineError, match="HTTP 500: model crashed") as caught:
        await collect(engine.generate(ask()))
    assert not isinstance(caught.value, EngineOverloadedError)
    assert caught.value.code == "engine_http_error"
    assert fake.attempts == 1  # an answered request is never retried


@pytest.mark.parametrize("status", [429, 503])
async def test_busy_server_is_overloaded_with_retry_after(
    fake: FakeOpenAI, engine: OpenAIEngine, status: int
) -> None:
    async def busy(request: web.Request) -> web.Response:
        return web.json_response(
            {"message": "queue full"}, status=status, headers={"Retry-After": "3"}
        )

    fake.handler = busy
    with pytest.raises(
        EngineOverloadedError, match=f"HTTP {status}: queue full.*retry after 3"
    ) as caught:
        await collect(engine.generate(ask()))
    assert caught.value.code == "engine_overloaded"


async def test_auth_failure_has_its_own_code(fake: FakeOpenAI, engine: OpenAIEngine) -> None:
    async def denied(request: web.Request) -> web.Response:
        return web.Response(status=401, text="invalid api key")

    fake.handler = denied
    with pytest.raises(EngineError, match="invalid api key") as caught:
        await collect(engine.generate(ask()))
    assert caught.value.code == "engine_auth_failed"


# ----------------------------------------------------------------------------- malformed streams


async def scripted(fake: FakeOpenAI, *lines: bytes) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await fake.record(request)
        response = await fake.open_stream(request)
        for line in lines:
            await fake.write(response, line)
        return response

    fake.handler = handler


async def test_malformed_sse_data_is_a_protocol_error_after_good_chunks(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    await scripted(fake, sse(token_event("Hi", -0.1, 0)), b'data: {"choices": [\n\n', sse("[DONE]"))
    received: list[str] = []
    with pytest.raises(EngineError, match="not JSON") as caught:
        async for chunk in engine.generate(ask()):
            received.append(chunk.text)
    assert caught.value.code == "engine_protocol"
    assert received == ["Hi"]


async def test_a_line_that_is_not_sse_is_a_protocol_error(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    await scripted(fake, b'{"choices": []}\n\n')
    with pytest.raises(EngineError, match="not an SSE line"):
        await collect(engine.generate(ask()))


@pytest.mark.parametrize(
    "payload",
    [
        sse({"choices": "nope"}),
        sse({"choices": [{"delta": {"content": "x"}, "logprobs": {"content": [{"token": "x"}]}}]}),
        sse({"choices": [], "usage": {"prompt_tokens": "many"}}),
        sse([1, 2]),
    ],
)
async def test_bad_fields_are_protocol_errors(
    fake: FakeOpenAI, engine: OpenAIEngine, payload: bytes
) -> None:
    await scripted(fake, payload, sse("[DONE]"))
    with pytest.raises(EngineError, match="malformed stream"):
        await collect(engine.generate(ask()))


async def test_error_event_mid_stream_carries_the_server_message(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    await scripted(
        fake, sse(token_event("Hi", -0.1, 0)), sse({"error": {"message": "CUDA out of memory"}})
    )
    with pytest.raises(EngineError, match="CUDA out of memory"):
        await collect(engine.generate(ask()))


async def test_stream_cut_before_the_end_is_an_error(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    await scripted(fake, sse(token_event("Hi", -0.1, 0)))  # no finish_reason, no [DONE]
    with pytest.raises(EngineError, match="before the answer finished"):
        await collect(engine.generate(ask()))


# ----------------------------------------------------------------------------- connections


async def test_connection_refused_is_retried_then_unreachable() -> None:
    engine = make_engine(f"http://127.0.0.1:{free_port()}/v1", connect_attempts=3)
    started = time.perf_counter()
    with pytest.raises(EngineError, match="after 3 attempts") as caught:
        await collect(engine.generate(ask()))
    assert caught.value.code == "engine_unreachable"
    assert time.perf_counter() - started < 3
    await engine.stop()


async def test_connection_dropped_before_the_response_is_retried(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    async def drop_first(request: web.Request) -> web.StreamResponse:
        if fake.attempts == 1:
            assert request.transport is not None
            request.transport.close()  # no response at all: the client sees a disconnect
            return web.Response()
        return await fake.stream_tokens(request)

    fake.handler = drop_first
    text, _, last = await collect(engine.generate(ask()))
    assert text == "Your order SO20261102-0042 shipped."
    assert last.finish_reason == "stop"
    assert fake.attempts == 2


async def test_slow_server_times_out_without_retry(fake: FakeOpenAI) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(status=500)

    fake.handler = slow
    engine = make_engine(fake.url, timeout_s=0.3)
    started = time.perf_counter()
    with pytest.raises(EngineError, match="timed out") as caught:
        await collect(engine.generate(ask()))
    assert caught.value.code == "engine_timeout"
    assert time.perf_counter() - started < 1.5
    assert fake.attempts == 1
    await engine.stop()


async def test_stall_mid_stream_times_out(fake: FakeOpenAI) -> None:
    fake.token_delay_s = 1.0
    engine = make_engine(fake.url, timeout_s=0.3)
    with pytest.raises(EngineError, match="timed out"):
        await collect(engine.generate(ask()))
    await engine.stop()


# ----------------------------------------------------------------------------- abort


async def test_abort_mid_stream_closes_the_request(fake: FakeOpenAI, engine: OpenAIEngine) -> None:
    fake.tokens = [(f" w{i}", -0.1) for i in range(200)]
    fake.token_delay_s = 0.01
    request = ask()
    chunks: list[GenerationChunk] = []
    async for chunk in engine.generate(request):
        chunks.append(chunk)
        if len(chunks) == 2:
            await engine.abort(request.request_id)
    assert chunks[-1].finish_reason == "abort"
    assert len(chunks) < 20
    await asyncio.wait_for(fake.disconnected.wait(), 2)  # the server saw the client leave


async def test_abort_while_waiting_for_the_response(fake: FakeOpenAI, engine: OpenAIEngine) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(status=500)

    fake.handler = hang
    request = ask()

    async def abort_soon() -> None:
        await asyncio.sleep(0.1)
        await engine.abort(request.request_id)

    started = time.perf_counter()
    aborter = asyncio.create_task(abort_soon())
    chunks = await chunks_of(engine, request)
    await aborter
    assert [(c.text, c.finish_reason) for c in chunks] == [("", "abort")]
    assert time.perf_counter() - started < 1.5


async def test_consumer_leaving_early_cuts_the_stream(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    fake.tokens = [(f" w{i}", -0.1) for i in range(200)]
    fake.token_delay_s = 0.01
    stream = engine.generate(ask())
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.wait_for(fake.disconnected.wait(), 2)


async def test_abort_of_unknown_request_is_ignored_and_duplicate_ids_refused(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    await engine.abort("req-unknown")
    fake.token_delay_s = 0.05
    request = ask()
    first = engine.generate(request)
    await first.__anext__()  # type: ignore[attr-defined]
    with pytest.raises(EngineError, match="already running"):
        await collect(engine.generate(request))
    await first.aclose()  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- health and lifecycle


async def test_health_ok_when_the_model_is_served(fake: FakeOpenAI, engine: OpenAIEngine) -> None:
    health = await engine.check_health()
    assert health.ok and health.model == "kefu"


async def test_health_not_ok_when_the_model_is_missing(
    fake: FakeOpenAI, engine: OpenAIEngine
) -> None:
    fake.models = ["qwen2.5-vl"]
    health = await engine.check_health()
    assert not health.ok
    assert "not served" in health.detail and "qwen2.5-vl" in health.detail


async def test_health_reports_auth_failure_and_unreachable_server(fake: FakeOpenAI) -> None:
    settings = EngineOptions(
        kind=EngineKind.OPENAI, base_url=fake.url, api_key="wrong", remote_model="kefu"
    )
    wrong_key = OpenAIEngine(settings)
    health = await wrong_key.check_health()
    assert not health.ok and "HTTP 401: bad api key" in health.detail
    await wrong_key.stop()
    down = make_engine(f"http://127.0.0.1:{free_port()}/v1")
    health = await down.check_health()
    assert not health.ok and "cannot reach" in health.detail
    await down.stop()


async def test_close_is_idempotent_and_start_reopens(fake: FakeOpenAI) -> None:
    engine = make_engine(fake.url)
    await engine.stop()  # never started
    await engine.start()
    await engine.stop()
    await engine.stop()
    text, _, _ = await collect(engine.generate(ask()))  # generate starts it again
    assert text.startswith("Your order")
    await engine.stop()


# ----------------------------------------------------------------------------- flags


def test_text_only_image_flag_and_model_id() -> None:
    settings = EngineOptions(kind=EngineKind.OPENAI, remote_model="qwen")
    assert OpenAIEngine(settings).supports_images is True
    text_only = OpenAIEngine(settings, supports_images=False)
    assert (text_only.supports_images, text_only.model_id) == (False, "qwen")
