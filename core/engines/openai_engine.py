"""An engine that streams from any OpenAI-compatible server: kefu's own core service, vLLM,
SGLang or the llama.cpp server.

It POSTs ``{base_url}/chat/completions`` with ``stream: true`` and ``logprobs: true``, reads
the server-sent events and yields :class:`GenerationChunk` objects with the chosen tokens'
log-probabilities. Images go as ``image_url`` parts holding ``data:`` URIs (the server never
fetches anything). Connection failures before the response starts are retried with
tenacity; nothing is retried once tokens flow. ``abort`` closes the HTTP response, which is
how OpenAI-compatible servers learn to stop generating. The wire format itself lives in
:mod:`core.engines.openai_wire`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.engines.base import (
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    HealthStatus,
    Usage,
)
from core.engines.openai_wire import (
    FINISH_REASONS,
    SseDecoder,
    ToolCallAssembler,
    decode_event,
    first_choice,
    http_error,
    parse_logprobs,
    parse_usage,
    protocol_error,
    request_payload,
    server_message,
)
from core.engines.options import EngineOptions
from core.errors import EngineError

# Failures where the request cannot have produced tokens yet, so a retry is safe.
RETRYABLE_CONNECT_ERRORS = (
    aiohttp.ClientConnectorError,  # refused, unreachable, DNS
    aiohttp.ConnectionTimeoutError,
    aiohttp.ServerDisconnectedError,  # e.g. a stale keep-alive connection
    aiohttp.ClientOSError,  # reset before the response
)
HEALTH_TIMEOUT_S = 10.0


@dataclass(slots=True)
class _Inflight:
    """A running request, so :meth:`OpenAIEngine.abort` can reach it."""

    connect: asyncio.Task[aiohttp.ClientResponse] | None = None
    response: aiohttp.ClientResponse | None = None
    aborted: bool = False


class OpenAIEngine:
    """Streams chat completions from an OpenAI-compatible HTTP server.

    Args:
        settings: ``base_url`` (``…/v1``), ``api_key``, ``remote_model`` and ``timeout_s``
            (the longest wait for connecting, for the response to start, and between
            streamed bytes).
        supports_images: Whether the remote model takes images; when False, wrap this
            engine in :class:`core.engines.ocr_wrapper.OcrTextEngine`.
        session: An aiohttp session to use (not closed by :meth:`close`); by default the
            engine opens its own in :meth:`start`.
        connect_attempts: Tries for connection errors before the response starts.
        retry_wait_s: First back-off between those tries (doubling, at most 2 s).
    """

    def __init__(
        self,
        settings: EngineOptions,
        *,
        supports_images: bool = True,
        session: aiohttp.ClientSession | None = None,
        connect_attempts: int = 3,
        retry_wait_s: float = 0.25,
    ) -> None:
        self.model_id = settings.remote_model
        self.supports_images = supports_images
        self._base_url = settings.base_url.rstrip("/")
        self._api_key = settings.api_key or None
        self._timeout_s = settings.timeout_s
        self._session = session
        self._owns_session = session is None
        self._attempts = max(1, connect_attempts)
        self._retry_wait_s = retry_wait_s
        self._inflight: dict[str, _Inflight] = {}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    async def start(self) -> None:
        """Open the HTTP session. Idempotent."""
        if self._session is None or (self._owns_session and self._session.closed):
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self._timeout_s, sock_read=self._timeout_s
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
            self._owns_session = True

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Stream the answer; the last chunk carries ``finish_reason`` and ``usage``.

        Raises:
            EngineOverloadedError: the server answered 429 or 503.
            EngineError: unreachable server, other HTTP errors, timeouts, malformed streams.
        """
        await self.start()
        if request.request_id in self._inflight:
            raise EngineError(f"request id {request.request_id} is already running")
        state = _Inflight()
        self._inflight[request.request_id] = state
        completed = False
        try:
            response = await self._connect(request, state)
            state.response = response
            if response is None or state.aborted:
                yield GenerationChunk(request.request_id, "", (), "abort")
                return
            await self._check_status(response)
            async with aclosing(self._stream(request, response, state)) as chunks:  # type: ignore[type-var]  # async generators have aclose()
                async for chunk in chunks:
                    yield chunk
            completed = True
        finally:
            self._inflight.pop(request.request_id, None)
            if state.connect is not None and not state.connect.done():
                state.connect.cancel()  # the consumer went away while we were connecting
            if state.response is not None and completed:
                state.response.release()
            elif state.response is not None:
                # close(), not release(): an unfinished stream must be cut so the server stops.
                state.response.close()

    async def _connect(
        self, request: GenerationRequest, state: _Inflight
    ) -> aiohttp.ClientResponse | None:
        # A task, so that abort() can cancel it while we wait for the server to answer.
        state.connect = asyncio.create_task(self._post_with_retries(request))
        await asyncio.wait({state.connect})
        if state.connect.cancelled():
            return None
        return state.connect.result()

    async def _post_with_retries(self, request: GenerationRequest) -> aiohttp.ClientResponse:
        assert self._session is not None
        url = f"{self._base_url}/chat/completions"
        body = request_payload(request, self.model_id)
        headers = {**self._headers(), "X-Request-Id": request.request_id}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._retry_wait_s, max=2.0),
            retry=retry_if_exception_type(RETRYABLE_CONNECT_ERRORS),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._session.post(url, json=body, headers=headers)
        except RETRYABLE_CONNECT_ERRORS as exc:
            raise EngineError(
                f"cannot reach engine server {url} after {self._attempts} attempts: {exc}",
                code="engine_unreachable",
            ) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _transport_error(url, exc) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _check_status(self, response: aiohttp.ClientResponse) -> None:
        if response.status == 200:
            return
        try:
            body = await response.text(errors="replace")
        except (TimeoutError, aiohttp.ClientError):
            body = ""
        raise http_error(response.status, server_message(body), response.headers.get("Retry-After"))

    async def _stream(
        self, request: GenerationRequest, response: aiohttp.ClientResponse, state: _Inflight
    ) -> AsyncIterator[GenerationChunk]:
        rid = request.request_id
        finish: FinishReason | None = None
        usage: Usage | None = None
        ended = False
        calls = ToolCallAssembler()
        async with aclosing(self._events(response, state)) as events:  # type: ignore[type-var]  # async generators have aclose()
            async for data in events:
                if data.strip() == "[DONE]":
                    ended = True
                    break
                event = decode_event(data)
                usage = parse_usage(event.get("usage")) or usage
                choice = first_choice(event)
                if choice is None:
                    continue
                delta = choice.get("delta") or {}
                calls.feed(delta.get("tool_calls"))
                text = delta.get("content") or ""
                logprobs = parse_logprobs(choice.get("logprobs"))
                if text or logprobs:
                    yield GenerationChunk(rid, str(text), logprobs)
                if choice.get("finish_reason"):
                    finish = FINISH_REASONS.get(str(choice["finish_reason"]), "stop")
        if state.aborted and finish is None and not ended:
            yield GenerationChunk(rid, "", (), "abort", usage)
            return
        if finish is None and not ended:
            raise EngineError("engine server closed the stream before the answer finished")
        yield GenerationChunk(rid, "", (), finish or "stop", usage, calls.calls())

    async def _events(
        self, response: aiohttp.ClientResponse, state: _Inflight
    ) -> AsyncIterator[str]:
        decoder = SseDecoder()
        try:
            async for line in response.content:
                data = decoder.feed(line)
                if data is not None:
                    yield data
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            if state.aborted:
                return  # abort() closed the response under us
            if isinstance(exc, ValueError):
                raise protocol_error(f"line too long: {exc}") from exc
            raise _transport_error(str(response.url), exc) from exc
        if not state.aborted:
            tail = decoder.flush()
            if tail is not None:
                yield tail

    async def abort(self, request_id: str) -> None:
        """Stop a running request: cancel its connection attempt or close its stream."""
        state = self._inflight.get(request_id)
        if state is None:
            return
        state.aborted = True
        if state.connect is not None and not state.connect.done():
            state.connect.cancel()
        if state.response is not None:
            state.response.close()

    async def check_health(self) -> HealthStatus:
        """GET ``{base_url}/models``; healthy when the server lists ``remote_model``."""
        await self.start()
        assert self._session is not None
        url = f"{self._base_url}/models"
        try:
            async with self._session.get(
                url,
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=min(self._timeout_s, HEALTH_TIMEOUT_S)),
            ) as response:
                body = await response.text(errors="replace")
                if response.status != 200:
                    detail = f"HTTP {response.status}: {server_message(body)}"
                    return HealthStatus(False, detail, self.model_id)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return HealthStatus(False, f"cannot reach {url}: {exc!r}", self.model_id)
        try:
            served = [str(item["id"]) for item in json.loads(body)["data"]]
        except (ValueError, KeyError, TypeError):
            return HealthStatus(False, f"unexpected /models body: {body[:200]!r}", self.model_id)
        if self.model_id not in served:
            return HealthStatus(
                False, f"model {self.model_id!r} not served; available: {served}", self.model_id
            )
        return HealthStatus(True, f"{url} serves {self.model_id}", self.model_id)

    async def stop(self) -> None:
        """Abort running requests and close the session this engine opened."""
        for request_id in list(self._inflight):
            await self.abort(request_id)
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()


def _transport_error(url: str, exc: BaseException) -> EngineError:
    if isinstance(exc, TimeoutError):
        return EngineError(f"engine server {url} timed out: {exc!r}", code="engine_timeout")
    return EngineError(
        f"connection to engine server {url} failed: {exc!r}", code="engine_unreachable"
    )
