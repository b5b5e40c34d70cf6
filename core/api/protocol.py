"""OpenAI chat-completions wire format: pydantic models at the HTTP edge and builders.

Only this module knows the JSON shapes; the service converts them to and from the core's
frozen dataclasses immediately.
"""

from __future__ import annotations

import time
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


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


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


def completion_json(
    completion_id: str,
    model: str,
    text: str,
    finish_reason: str,
    logprobs: list[TokenLogprob] | None,
    usage: Usage | None,
    confidence: Confidence,
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` object, plus kefu's ``confidence`` extension."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
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
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``chunk=None`` with ``role`` emits the opening delta."""
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    if chunk is not None:
        if chunk.text:
            delta["content"] = chunk.text
        if with_logprobs and chunk.logprobs:
            choice["logprobs"] = logprobs_json(chunk.logprobs)
        choice["finish_reason"] = chunk.finish_reason
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


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
