"""OpenAI chat-completions wire format: pydantic models at the HTTP edge and builders.

Only this module knows the JSON shapes; the service converts them to and from the core's
frozen dataclasses immediately.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.engines.base import GenerationChunk, TokenLogprob, Usage
from core.model.turn import Confidence


class ImageUrl(BaseModel):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text", "image_url"]
    text: str | None = None
    image_url: ImageUrl | None = None


class FunctionCallIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    arguments: str = "{}"


class ToolCallIn(BaseModel):
    """A tool call the model made earlier, sent back in an assistant message."""

    model_config = ConfigDict(extra="ignore")
    id: str = ""
    type: str = "function"
    function: FunctionCallIn


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(BaseModel):
    """One entry of ``tools``; only ``type: function`` is supported (checked with a clear 400)."""

    model_config = ConfigDict(extra="ignore")
    type: str
    function: FunctionDef | None = None


class NamedFunction(BaseModel):
    name: str


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    function: NamedFunction | None = None


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """``{"type": "text" | "json_object" | "json_schema", "json_schema": {...}}``."""

    model_config = ConfigDict(extra="ignore")
    type: str
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's request kefu honours; unknown fields are ignored like vLLM does."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=8192)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = 1
    tools: list[Tool] | None = None
    tool_choice: str | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    # The deprecated forms of tools; refused with a 400 that names their replacement.
    functions: list[Any] | None = None
    function_call: Any = None

    @field_validator("n")
    @classmethod
    def _only_one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only n=1 is supported")
        return value

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop[:4])


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    """A tool call parsed from the model's output; ``arguments`` is a JSON object as text."""

    id: str
    name: str
    arguments: str


def error_body(message: str, kind: str, code: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def logprobs_json(logprobs: tuple[TokenLogprob, ...] | list[TokenLogprob]) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": lp.token,
                "logprob": lp.logprob,
                "bytes": list(lp.token.encode("utf-8")),
                "top_logprobs": [
                    {"token": tok, "logprob": value, "bytes": list(tok.encode("utf-8"))}
                    for tok, value in lp.top
                ],
            }
            for lp in logprobs
        ]
    }


def usage_json(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def confidence_json(confidence: Confidence) -> dict[str, Any]:
    return {
        "score": confidence.score,
        "components": {c.name: c.value for c in confidence.components},
        "reasons": list(confidence.reasons),
    }


def tool_calls_json(calls: Sequence[ToolCallOut]) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments},
        }
        for call in calls
    ]


def completion_json(
    completion_id: str,
    model: str,
    text: str | None,
    finish_reason: str,
    logprobs: list[TokenLogprob] | None,
    usage: Usage | None,
    confidence: Confidence,
    tool_calls: Sequence[ToolCallOut] = (),
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object, plus kefu's ``confidence`` extension."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls_json(tool_calls)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": logprobs_json(logprobs) if logprobs is not None else None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_json(usage),
        "confidence": confidence_json(confidence),
    }


def chunk_json(
    completion_id: str,
    model: str,
    chunk: GenerationChunk | None,
    *,
    role: bool = False,
    with_logprobs: bool = False,
    confidence: Confidence | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``chunk=None`` with ``role`` emits the opening delta.

    The last chunk (with its ``finish_reason``) carries kefu's ``confidence`` extension.
    """
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    if chunk is not None:
        if chunk.text:
            delta["content"] = chunk.text
        if with_logprobs and chunk.logprobs:
            choice["logprobs"] = logprobs_json(chunk.logprobs)
        choice["finish_reason"] = chunk.finish_reason
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }
    if confidence is not None:
        body["confidence"] = confidence_json(confidence)
    return body


def shaped_chunks(
    completion_id: str,
    model: str,
    text: str | None,
    tool_calls: Sequence[ToolCallOut],
    finish_reason: str,
    confidence: Confidence,
) -> list[dict[str, Any]]:
    """A buffered, checked answer as stream chunks: its content or tool calls, then the end."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"id": completion_id, "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model, "choices": [choice]}  # fmt: skip

    chunks = [chunk({"role": "assistant", "content": "" if not tool_calls else None})]
    if text:
        chunks.append(chunk({"content": text}))
    if tool_calls:
        calls = [dict(call, index=i) for i, call in enumerate(tool_calls_json(tool_calls))]
        chunks.append(chunk({"tool_calls": calls}))
    chunks.append(chunk({}, finish_reason) | {"confidence": confidence_json(confidence)})
    return chunks


def usage_chunk_json(
    completion_id: str, model: str, usage: Usage | None, confidence: Confidence
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": usage_json(usage),
        "confidence": confidence_json(confidence),
    }
