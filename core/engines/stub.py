"""An instant, deterministic engine for tests, demos and gateway benchmarks.

It is a real :class:`~core.engines.base.Engine`: it streams chunks with logprobs, honours
``abort`` and ``max_new_tokens``, and can be scripted to fail. It has no model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from core.engines.base import (
    FinishReason,
    GenerationChunk,
    GenerationRequest,
    HealthStatus,
    TokenLogprob,
    Usage,
)
from core.errors import EngineError

AnswerFn = Callable[[GenerationRequest], str]


def echo_answer(request: GenerationRequest) -> str:
    """Default answer: echoes the last user message, so tests can match replies to turns."""
    last_user = next((m for m in reversed(request.messages) if m.role == "user"), None)
    if last_user is None:  # only system or assistant messages: nothing to echo
        return "Echo:"
    images = len(last_user.images)
    suffix = f" [{images} image(s)]" if images else ""
    return f"Echo: {last_user.content_text}{suffix}"


class StubEngine:
    """Streams ``answer(request)`` word by word.

    Args:
        answer: Function producing the full answer text for a request.
        token_delay_s: Sleep between chunks (0 = as fast as the loop allows).
        logprob: Log-probability reported for every token.
        fail_with: If set, ``generate`` raises this error instead of answering.
    """

    model_id = "kefu-stub"
    supports_images = True

    def __init__(
        self,
        answer: AnswerFn = echo_answer,
        *,
        token_delay_s: float = 0.0,
        logprob: float = -0.05,
        fail_with: EngineError | None = None,
    ) -> None:
        self._answer = answer
        self._delay = token_delay_s
        self._logprob = logprob
        self.fail_with = fail_with
        self._aborted: set[str] = set()
        self.requests: list[GenerationRequest] = []

    async def start(self) -> None:
        return None

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        self.requests.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        words = self._answer(request).split(" ")
        emitted = 0
        for index, word in enumerate(words[: request.max_new_tokens]):
            if request.request_id in self._aborted:
                yield self._final(request, emitted, "abort")
                return
            piece = word if index == 0 else " " + word
            emitted += 1
            yield GenerationChunk(request.request_id, piece, (TokenLogprob(piece, self._logprob),))
            if self._delay:
                await asyncio.sleep(self._delay)
        reason: FinishReason = "length" if len(words) > request.max_new_tokens else "stop"
        yield self._final(request, emitted, reason)

    def _final(
        self, request: GenerationRequest, emitted: int, reason: FinishReason
    ) -> GenerationChunk:
        prompt_tokens = sum(len(m.content_text.split()) for m in request.messages)
        return GenerationChunk(
            request.request_id,
            "",
            (),
            reason,
            Usage(prompt_tokens, emitted),
        )

    async def abort(self, request_id: str) -> None:
        self._aborted.add(request_id)

    async def check_health(self) -> HealthStatus:
        return HealthStatus(ok=self.fail_with is None, model=self.model_id)

    async def stop(self) -> None:
        return None
