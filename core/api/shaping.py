"""Answers of a required shape: ``tools`` / ``tool_choice`` and ``response_format``.

Neither is ever ignored. :func:`contract_of` reads what the request asks for (a bad or
unsupported spec is an :class:`~core.errors.InvalidInputError`, an OpenAI-shaped 400);
:func:`with_instructions` tells the model; :func:`generate_shaped` generates, checks the
answer (:mod:`core.api.tools`, :mod:`core.api.structured`) and, when it does not conform,
shows the model what was wrong and tries again. After ``attempts`` failures it raises
:class:`~core.errors.OutputFormatError`: a request for JSON never gets a 200 with prose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.api import protocol as wire
from core.api.structured import JsonFormat, NotConforming
from core.api.tools import Toolset, toolset
from core.engines.base import ChatMessage, Engine, GenerationRequest, TokenLogprob, Usage, collect
from core.errors import InvalidInputError, OutputFormatError

ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class OutputContract:
    """What shape the answer must take."""

    tools: Toolset
    json: JsonFormat | None = None

    @property
    def shaped(self) -> bool:
        """The answer must be checked (and is therefore generated before it is sent)."""
        return self.tools.active or self.json is not None

    def instructions(self) -> str:
        parts = [self.tools.instructions()] if self.tools.active else []
        if self.json is not None:
            prefix = "When you answer in text instead of calling a function: " if parts else ""
            parts.append(prefix + self.json.instructions())
        return "\n\n".join(parts)

    def check(self, text: str) -> tuple[str | None, tuple[wire.ToolCallOut, ...]]:
        """The answer's content and tool calls.

        Raises:
            NotConforming: the answer does not take the required shape.
        """
        if self.tools.active:
            rest, calls = self.tools.parse(text)
            if calls:
                return (None if self.json is not None else rest), calls
        if self.json is not None:
            return self.json.parse(text), ()
        return text, ()


def contract_of(body: wire.ChatCompletionRequest) -> OutputContract:
    """The request's output contract.

    Raises:
        InvalidInputError: an unsupported or malformed ``tools``, ``tool_choice``,
            ``response_format``, or the deprecated ``functions`` / ``function_call``.
    """
    if body.functions is not None or body.function_call is not None:
        raise InvalidInputError(
            "functions and function_call are deprecated and not supported; use tools and "
            "tool_choice"
        )
    tools = toolset(body.tools, body.tool_choice, body.parallel_tool_calls)
    return OutputContract(tools, _json_format(body.response_format))


def _json_format(spec: wire.ResponseFormat | None) -> JsonFormat | None:
    if spec is None or spec.type == "text":
        return None
    if spec.type == "json_object":
        return JsonFormat()
    if spec.type == "json_schema":
        if spec.json_schema is None or spec.json_schema.schema_ is None:
            raise InvalidInputError("response_format json_schema needs json_schema.schema")
        return JsonFormat.checked(spec.json_schema.schema_, spec.json_schema.name)
    raise InvalidInputError(
        f"response_format type {spec.type!r} is not supported: use text, json_object or json_schema"
    )


def with_instructions(
    messages: tuple[ChatMessage, ...], contract: OutputContract
) -> tuple[ChatMessage, ...]:
    """``messages`` with the contract's instructions in the system message."""
    text = contract.instructions()
    if not text:
        return messages
    if messages and messages[0].role == "system":
        merged = ChatMessage.text("system", f"{messages[0].content_text}\n\n{text}")
        return (merged, *messages[1:])
    return (ChatMessage.text("system", text), *messages)


@dataclass(frozen=True, slots=True)
class ShapedAnswer:
    """A checked answer: its content or tool calls, and what produced it."""

    content: str | None
    tool_calls: tuple[wire.ToolCallOut, ...]
    finish_reason: str
    logprobs: list[TokenLogprob]
    usage: Usage


async def generate_shaped(
    engine: Engine, request: GenerationRequest, contract: OutputContract, attempts: int = ATTEMPTS
) -> ShapedAnswer:
    """Generate until the answer conforms (at most ``attempts`` times).

    Raises:
        OutputFormatError: no answer conformed.
        EngineError: the engine failed.
    """
    messages, prompt_tokens, completion_tokens = request.messages, 0, 0
    problem = ""
    for attempt in range(attempts):
        request_id = request.request_id if attempt == 0 else f"{request.request_id}-{attempt}"
        text, logprobs, last = await collect(
            engine.generate(replace(request, messages=messages, request_id=request_id))
        )
        if last.usage is not None:
            prompt_tokens += last.usage.prompt_tokens
            completion_tokens += last.usage.completion_tokens
        try:
            content, calls = contract.check(text)
        except NotConforming as exc:
            cut = " (it was cut off at max_tokens)" if last.finish_reason == "length" else ""
            problem = f"{exc}{cut}"
            retry = f"That answer cannot be used: {problem}. Answer again, exactly as instructed."
            messages = (*request.messages, ChatMessage.text("assistant", text),
                        ChatMessage.text("user", retry))  # fmt: skip
            continue
        finish = "tool_calls" if calls else (last.finish_reason or "stop")
        usage = Usage(prompt_tokens, completion_tokens)
        return ShapedAnswer(content, calls, finish, logprobs, usage)
    raise OutputFormatError(
        f"the model's answer did not take the requested shape in {attempts} attempts: {problem}"
    )
