"""The engine interface every inference backend implements.

An engine turns a :class:`GenerationRequest` into an async stream of
:class:`GenerationChunk` objects that carry the generated text and the log-probabilities
of the chosen tokens. Engines never block the event loop.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from core.errors import EngineError, InvalidInputError
from core.model.turn import ImagePart, Part, TextPart

ChatRole = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call (OpenAI function calling).

    Attributes:
        name: The function's name.
        description: What it does, for the model.
        parameters_json: Its parameters as a JSON-schema object, serialised.
    """

    name: str
    description: str
    parameters_json: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for: ``arguments_json`` is its arguments as JSON text."""

    id: str
    name: str
    arguments_json: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a prompt; ``parts`` may include images for vision models.

    ``tool_calls`` are an assistant message's function calls; a ``tool`` message answers
    the call named by ``tool_call_id``.
    """

    role: ChatRole
    parts: tuple[Part, ...]
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""

    @classmethod
    def text(cls, role: ChatRole, content: str) -> ChatMessage:
        return cls(role, (TextPart(content),))

    @property
    def content_text(self) -> str:
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


_RUN_ID = uuid.uuid4().hex[:8]
_REQUEST_NUMBERS = itertools.count(1)


def new_request_id() -> str:
    """A request id unique in this process and across restarts (random part per run).

    A counter, not uuid4 per request: uuid4 reads the kernel's random source every time,
    which costs tens of µs on a VM, on the path of every answer.
    """
    return f"req-{_RUN_ID}-{next(_REQUEST_NUMBERS)}"


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What to generate.

    Attributes:
        messages: The chat prompt, system message first.
        max_new_tokens: Upper bound on generated tokens.
        temperature: 0 means greedy.
        top_p: Nucleus sampling bound (ignored when greedy).
        stop: Stop strings; generation ends before them.
        logprobs: Whether chunks must carry token log-probabilities.
        top_logprobs: How many alternatives per token to report (0..20).
        request_id: Unique id; used by :meth:`Engine.abort`.
        seed: Sampling seed, for reproducibility.
        tools: Functions the model may call; engines without function calling ignore them.
    """

    messages: tuple[ChatMessage, ...]
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    logprobs: bool = True
    top_logprobs: int = 0
    request_id: str = field(default_factory=new_request_id)
    seed: int | None = None
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """The log-probability of one generated token, with optional alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


FinishReason = Literal["stop", "length", "abort", "error"]


@dataclass(frozen=True, slots=True)
class GenerationChunk:
    """A piece of streamed output.

    Attributes:
        request_id: The request this belongs to.
        text: New text since the previous chunk (may be empty on the final chunk).
        logprobs: Log-probabilities of the tokens that produced ``text``.
        finish_reason: Set on the last chunk only.
        usage: Token counts, set on the last chunk only.
        tool_calls: The functions the model called, complete, on the last chunk only.
    """

    request_id: str
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class HealthStatus:
    ok: bool
    detail: str = ""
    model: str = ""


@runtime_checkable
class Engine(Protocol):
    """An inference backend.

    Attributes:
        model_id: Name reported by ``/v1/models``.
        supports_images: True when images are given to the model as vision input;
            when False, the caller turns photos into OCR text first.
    """

    @property
    def model_id(self) -> str:
        """Name reported by ``/v1/models``."""
        ...

    @property
    def supports_images(self) -> bool:
        """Whether ``generate`` accepts image parts."""
        ...

    async def start(self) -> None:
        """Load the model / open connections. Idempotent."""

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Stream the answer to ``request``. Raises :class:`core.errors.EngineError`."""
        ...

    async def abort(self, request_id: str) -> None:
        """Stop a running request and free its batch slot. Unknown ids are ignored."""

    async def check_health(self) -> HealthStatus:
        """Report whether the engine can serve."""
        ...

    async def stop(self) -> None:
        """Release the model / connections."""


ChunkCallback = Callable[[GenerationChunk, str], Awaitable[None]]


async def collect(
    chunks: AsyncIterator[GenerationChunk], on_chunk: ChunkCallback | None = None
) -> tuple[str, list[TokenLogprob], GenerationChunk]:
    """Gather a generation: the one loop every caller of ``generate`` uses.

    Args:
        chunks: ``engine.generate(request)``.
        on_chunk: Awaited with each chunk and the whole text so far (live previews, SSE).

    Returns:
        The full text, every token's logprob, and the final chunk (finish reason, usage).
    """
    pieces: list[str] = []
    logprobs: list[TokenLogprob] = []
    last: GenerationChunk | None = None
    async for chunk in chunks:
        pieces.append(chunk.text)
        logprobs.extend(chunk.logprobs)
        last = chunk
        if on_chunk is not None:
            await on_chunk(chunk, "".join(pieces))
    if last is None:
        raise EngineError("the engine ended without a final chunk")
    return "".join(pieces), logprobs, last


def validate_request(request: GenerationRequest) -> None:
    """Reject malformed requests before they reach an engine thread.

    Raises:
        InvalidInputError: no messages, or a bound out of range.
    """
    if not request.messages:
        raise InvalidInputError("a generation request needs at least one message")
    if request.max_new_tokens < 1:
        raise InvalidInputError("max_new_tokens must be at least 1")
    if request.temperature < 0:
        raise InvalidInputError("temperature must not be negative")
    if not 0.0 < request.top_p <= 1.0:
        raise InvalidInputError("top_p must be in (0, 1]")
    if not 0 <= request.top_logprobs <= 20:
        raise InvalidInputError("top_logprobs must be between 0 and 20")
