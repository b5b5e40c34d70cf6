"""The OpenAI-compatible inference routes (aiohttp handlers bound to one engine).

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
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import ValidationError

from core.answering.confidence import score_logprobs
from core.api import protocol as wire
from core.engines.base import ChatMessage, Engine, GenerationChunk, GenerationRequest, collect
from core.errors import InvalidInputError, KefuError
from core.media.fetch import FetchPolicy, SafeFetcher
from core.media.images import ImageLimits, normalise_image
from core.model.turn import Part, TextPart

log = logging.getLogger(__name__)


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

    async def readyz(self, _request: web.Request) -> web.Response:
        health = await self.engine.check_health()
        status = 200 if health.ok else 503
        return web.json_response(
            {"ready": health.ok, "model": health.model, "detail": health.detail}, status=status
        )

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
        text, logprobs, last = await collect(self.engine.generate(generation))
        result = wire.completion_json(
            generation.request_id,
            self.engine.model_id,
            text,
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

        async def send(chunk: GenerationChunk, _text: str) -> None:
            payload = wire.chunk_json(
                generation.request_id, model, chunk, with_logprobs=body.logprobs
            )
            await _sse(response, payload)

        try:
            await _sse(response, wire.chunk_json(generation.request_id, model, None, role=True))
            _, logprobs, last = await collect(self.engine.generate(generation), send)
            usage = last.usage
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

    async def stop(self) -> None:
        await self.fetcher.close()


async def _sse(response: web.StreamResponse, payload: dict[str, object]) -> None:
    await response.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())
