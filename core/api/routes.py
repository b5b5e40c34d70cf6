"""The OpenAI-compatible inference routes (aiohttp handlers bound to one engine).

``POST /v1/chat/completions`` (text and ``image_url`` parts, SSE streaming, logprobs,
``tools`` and ``response_format`` through :mod:`core.api.shaping`), ``GET /v1/models``,
``/healthz``, ``/readyz`` and ``/metrics``. Errors use OpenAI's error shape, so the official
``openai`` client and other OpenAI-compatible tools work unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import ValidationError

from core.answering.confidence import score_logprobs
from core.api import protocol as wire
from core.api import shaping
from core.api.access import AccessOptions, Scope, check_access
from core.api.tools import tool_message_text
from core.engines.base import (
    ChatMessage,
    ChatRole,
    Engine,
    GenerationChunk,
    GenerationRequest,
    TokenLogprob,
    collect,
)
from core.errors import InvalidInputError, KefuError
from core.media.fetch import FetchPolicy, SafeFetcher
from core.media.images import ImageDecoder, ImageLimits
from core.model.turn import Part, TextPart
from core.texts import public_message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """Core service behaviour.

    Attributes:
        access: Credentials of the inference, operator and metrics scopes
            (:mod:`core.api.access`).
        allow_remote_images: Fetch http(s) ``image_url`` parts (through the SSRF guard).
        max_remote_image_bytes: Size cap for fetched images.
        default_max_tokens: Used when the request sets none.
        image_limits: Limits for decoded images.
        fetch_policy: Policy of the guarded fetcher (tests allow 127.0.0.1).
        image_decoder: The process's image decoder (threads, concurrency and memory limits).
        health_paths: Directories ``/healthz`` checks for free space (the store's).
        min_free_bytes: Less free space than this there makes ``/healthz`` fail.
    """

    access: AccessOptions = field(default_factory=AccessOptions)
    allow_remote_images: bool = False
    max_remote_image_bytes: int = 10 * 1024 * 1024
    default_max_tokens: int = 256
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    fetch_policy: FetchPolicy | None = None
    image_decoder: ImageDecoder = field(default_factory=ImageDecoder)
    health_paths: tuple[str, ...] = ()
    min_free_bytes: int = 64 * 1024 * 1024


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
        return check_access(request, Scope.INFERENCE, self.options.access)

    async def models(self, request: web.Request) -> web.Response:
        if (denied := self._authorise(request)) is not None:
            return denied
        model = {"id": self.engine.model_id, "object": "model", "created": 0, "owned_by": "kefu"}
        return web.json_response({"object": "list", "data": [model]})

    async def readyz(self, _request: web.Request) -> web.Response:
        # Whether, not why: the detail may name the engine's address.
        health = await self.engine.check_health()
        if not health.ok:
            log.warning("not ready: %s", health.detail)
        return web.json_response({"ready": health.ok}, status=200 if health.ok else 503)

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
        contract = shaping.contract_of(body)  # a tools/response_format spec it cannot honour: 400
        messages = shaping.with_instructions(await self._messages(body), contract)
        generation = GenerationRequest(
            messages=messages,
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
        if contract.shaped:
            return await self._shaped(request, body, generation, contract)
        if body.stream:
            return await self._stream(request, body, generation)
        return await self._complete(body, generation)

    async def _messages(self, body: wire.ChatCompletionRequest) -> tuple[ChatMessage, ...]:
        messages: list[ChatMessage] = []
        for index, message in enumerate(body.messages):
            tool_text = tool_message_text(message)
            if tool_text is not None:  # earlier calls and their results, as the model writes them
                speaker: ChatRole = "assistant" if message.role == "assistant" else "user"
                messages.append(ChatMessage.text(speaker, tool_text))
                continue
            role = "system" if message.role == "developer" else message.role
            assert role != "tool"  # a tool message always has a tool text
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
                data = await self._image_bytes(part.image_url.url)
                image = await self.options.image_decoder.normalise(data, self.options.image_limits)
                parts.append(image)
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
        seen: list[TokenLogprob] = []

        async def send(chunk: GenerationChunk, _text: str) -> None:
            seen.extend(chunk.logprobs)
            # The last chunk carries the confidence, whether or not usage was asked for.
            confidence = score_logprobs(seen) if chunk.finish_reason else None
            payload = wire.chunk_json(
                generation.request_id, model, chunk, with_logprobs=body.logprobs,
                confidence=confidence,
            )  # fmt: skip
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
            await _sse(response, wire.error_body(public_message(exc), "server_error", exc.code))
        return response

    async def _shaped(
        self,
        request: web.Request,
        body: wire.ChatCompletionRequest,
        generation: GenerationRequest,
        contract: shaping.OutputContract,
    ) -> web.StreamResponse:
        """An answer checked against ``tools`` / ``response_format`` before it is sent (so a
        streamed one arrives in few chunks, once it is known to conform)."""
        answer = await shaping.generate_shaped(self.engine, generation, contract)
        confidence = score_logprobs(answer.logprobs)
        model, cid = self.engine.model_id, generation.request_id
        if not body.stream:
            result = wire.completion_json(
                cid, model, answer.content, answer.finish_reason,
                answer.logprobs if body.logprobs else None, answer.usage, confidence,
                answer.tool_calls,
            )  # fmt: skip
            return web.json_response(result)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for chunk in wire.shaped_chunks(
            cid, model, answer.content, answer.tool_calls, answer.finish_reason, confidence
        ):
            await _sse(response, chunk)
        if body.stream_options and body.stream_options.include_usage:
            await _sse(response, wire.usage_chunk_json(cid, model, answer.usage, confidence))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def stop(self) -> None:
        await self.fetcher.close()


async def _sse(response: web.StreamResponse, payload: dict[str, object]) -> None:
    await response.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())
