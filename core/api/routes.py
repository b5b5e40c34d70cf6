"""kefu's OpenAI-compatible core service (aiohttp).

``POST /v1/chat/completions`` (text and ``image_url`` parts, SSE streaming, logprobs),
``GET /v1/models``, ``/healthz``, ``/readyz`` and ``/metrics``. Errors use OpenAI's error
shape, so the official ``openai`` client and other OpenAI-compatible tools work unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import ValidationError

from core.answering.confidence import score_logprobs
from core.api import protocol as wire
from core.engines.base import ChatMessage, Engine, GenerationChunk, GenerationRequest, TokenLogprob
from core.errors import InvalidInputError, KefuError
from core.media.fetch import FetchPolicy, SafeFetcher
from core.media.images import ImageLimits, normalise_image
from core.model.turn import Part, TextPart

log = logging.getLogger(__name__)

REQUESTS = Counter("kefu_service_requests_total", "Core service requests", ["endpoint", "status"])
ENGINE_KEY = web.AppKey("kefu_engine", object)
OPTIONS_KEY = web.AppKey("kefu_service_options", object)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """Core service behaviour.

    Attributes:
        api_key: When set, requests need ``Authorization: Bearer <api_key>``.
        allow_remote_images: Fetch http(s) ``image_url`` parts (through the SSRF guard).
        max_remote_image_bytes: Size cap for fetched images.
        default_max_tokens: Used when the request sets none.
        image_limits: Limits for decoded images.
        fetch_policy: Policy of the guarded fetcher (tests allow 127.0.0.1).
    """

    api_key: str | None = None
    allow_remote_images: bool = False
    max_remote_image_bytes: int = 10 * 1024 * 1024
    default_max_tokens: int = 256
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    fetch_policy: FetchPolicy | None = None


def _error(
    status: int, message: str, kind: str, code: str, param: str | None = None
) -> web.Response:
    return web.json_response(wire.error_body(message, kind, code, param), status=status)


@web.middleware
async def _errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith(("/v1/", "/healthz", "/readyz", "/metrics")):
        return await handler(request)  # adapters' routes keep their own error shapes
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error(
            exc.status, exc.reason, "invalid_request_error", exc.reason.lower().replace(" ", "_")
        )
    except InvalidInputError as exc:
        # OpenAI clients expect 400 for any bad input (image errors included).
        response = _error(400, str(exc), "invalid_request_error", exc.code)
    except KefuError as exc:
        kind = "invalid_request_error" if exc.http_status < 500 else "server_error"
        response = _error(exc.http_status, str(exc), kind, exc.code)
    REQUESTS.labels(request.path, str(response.status)).inc()
    return response


class CoreService:
    """Request handlers bound to one engine."""

    def __init__(self, engine: Engine, options: ServiceOptions) -> None:
        self.engine = engine
        self.options = options
        policy = options.fetch_policy or FetchPolicy(max_bytes=options.max_remote_image_bytes)
        self.fetcher = SafeFetcher(policy)

    def _authorise(self, request: web.Request) -> web.Response | None:
        if not self.options.api_key:
            return None
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(supplied.encode(), self.options.api_key.encode()):
            return None
        return _error(401, "Invalid API key.", "invalid_request_error", "invalid_api_key")

    async def models(self, request: web.Request) -> web.Response:
        if (denied := self._authorise(request)) is not None:
            return denied
        model = {"id": self.engine.model_id, "object": "model", "created": 0, "owned_by": "kefu"}
        return web.json_response({"object": "list", "data": [model]})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        health = await self.engine.check_health()
        status = 200 if health.ok else 503
        return web.json_response(
            {"ready": health.ok, "model": health.model, "detail": health.detail}, status=status
        )

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._authorise(request)) is not None:
            return denied
        try:
            body = wire.ChatCompletionRequest.model_validate_json(await request.read())
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(str(p) for p in first.get("loc", ()))
            return _error(
                400, f"{param}: {first['msg']}", "invalid_request_error", "invalid_request", param
            )
        generation = GenerationRequest(
            messages=await self._messages(body),
            max_new_tokens=body.max_completion_tokens
            or body.max_tokens
            or self.options.default_max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=body.stop_strings(),
            logprobs=True,
            top_logprobs=body.top_logprobs or 0,
            request_id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            seed=body.seed,
        )
        if body.stream:
            return await self._stream(request, body, generation)
        return await self._complete(body, generation)

    async def _messages(self, body: wire.ChatCompletionRequest) -> tuple[ChatMessage, ...]:
        messages: list[ChatMessage] = []
        for index, message in enumerate(body.messages):
            role = "system" if message.role == "developer" else message.role
            parts = await self._parts(message.content, f"messages.{index}.content")
            messages.append(ChatMessage(role, parts))
        return tuple(messages)

    async def _parts(
        self, content: str | list[wire.ContentPart] | None, param: str
    ) -> tuple[Part, ...]:
        if content is None or isinstance(content, str):
            return (TextPart(content or ""),)
        parts: list[Part] = []
        for index, part in enumerate(content):
            if part.type == "text":
                parts.append(TextPart(part.text or ""))
            elif part.image_url is None:
                raise InvalidInputError(f"{param}.{index}.image_url is required")
            else:
                parts.append(
                    normalise_image(
                        await self._image_bytes(part.image_url.url), self.options.image_limits
                    )
                )
        return tuple(parts)

    async def _image_bytes(self, url: str) -> bytes:
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if ";base64" not in header:
                raise InvalidInputError("image data URIs must be base64-encoded")
            try:
                return base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise InvalidInputError(f"image data URI is not valid base64: {exc}") from exc
        if url.startswith(("http://", "https://")):
            if not self.options.allow_remote_images:
                raise InvalidInputError(
                    "remote image URLs are disabled on this server; send a data: URI"
                )
            return (await self.fetcher.fetch(url)).data
        raise InvalidInputError("image_url must be a data: URI or an http(s) URL")

    async def _complete(
        self, body: wire.ChatCompletionRequest, generation: GenerationRequest
    ) -> web.Response:
        pieces: list[str] = []
        logprobs: list[TokenLogprob] = []
        last: GenerationChunk | None = None
        async for chunk in self.engine.generate(generation):
            pieces.append(chunk.text)
            logprobs.extend(chunk.logprobs)
            last = chunk
        assert last is not None
        result = wire.completion_json(
            generation.request_id,
            self.engine.model_id,
            "".join(pieces),
            last.finish_reason or "stop",
            logprobs if body.logprobs else None,
            last.usage,
            score_logprobs(logprobs),
        )
        return web.json_response(result)

    async def _stream(
        self, request: web.Request, body: wire.ChatCompletionRequest, generation: GenerationRequest
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        model = self.engine.model_id
        logprobs: list[TokenLogprob] = []
        usage = None
        try:
            await _sse(response, wire.chunk_json(generation.request_id, model, None, role=True))
            async for chunk in self.engine.generate(generation):
                logprobs.extend(chunk.logprobs)
                usage = chunk.usage or usage
                await _sse(
                    response,
                    wire.chunk_json(
                        generation.request_id, model, chunk, with_logprobs=body.logprobs
                    ),
                )
            if body.stream_options and body.stream_options.include_usage:
                await _sse(
                    response,
                    wire.usage_chunk_json(
                        generation.request_id, model, usage, score_logprobs(logprobs)
                    ),
                )
            await response.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            # The client went away: free the batch slot at once.
            await self.engine.abort(generation.request_id)
            raise
        except KefuError as exc:
            await _sse(response, wire.error_body(str(exc), "server_error", exc.code))
        return response

    async def close(self) -> None:
        await self.fetcher.close()


async def _sse(response: web.StreamResponse, payload: dict[str, object]) -> None:
    await response.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())


def add_service_routes(
    app: web.Application, engine: Engine, options: ServiceOptions | None = None
) -> CoreService:
    """Mount the OpenAI-compatible routes on ``app`` and return the handler object."""
    service = CoreService(engine, options or ServiceOptions())
    app.middlewares.append(_errors_middleware)
    app.router.add_post("/v1/chat/completions", service.chat_completions)
    app.router.add_get("/v1/models", service.models)
    app.router.add_get("/healthz", service.healthz)
    app.router.add_get("/readyz", service.readyz)
    app.router.add_get("/metrics", service.metrics)

    async def _close(_app: web.Application) -> None:
        await service.close()

    app.on_cleanup.append(_close)
    return service


def build_service_app(engine: Engine, options: ServiceOptions | None = None) -> web.Application:
    """A standalone application serving only the core API (``main.py core``)."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    add_service_routes(app, engine, options)
    return app
