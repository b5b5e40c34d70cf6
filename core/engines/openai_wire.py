"""The OpenAI chat-completions wire format, as :class:`~core.engines.openai_engine.OpenAIEngine`
speaks it: request bodies, server-sent events, stream chunks and error bodies.

Pure functions and one small decoder, so the format can be tested without a server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from core.engines.base import (
    ChatMessage,
    FinishReason,
    GenerationRequest,
    TokenLogprob,
    ToolCall,
    ToolSpec,
    Usage,
)
from core.errors import EngineError, EngineOverloadedError
from core.model.turn import ImagePart, TextPart

FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "tool_calls": "stop",
    "function_call": "stop",
    "length": "length",
    "abort": "abort",
    "cancelled": "abort",
    "content_filter": "error",
    "error": "error",
}
MAX_ERROR_BODY = 2000


def _part_payload(part: TextPart | ImagePart) -> list[dict[str, Any]]:
    if isinstance(part, TextPart):
        return [{"type": "text", "text": part.text}]
    data_uri = f"data:{part.mime};base64,{base64.b64encode(part.data).decode('ascii')}"
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": data_uri}}]
    if part.caption:  # the customer's words about the photo travel with it
        parts.append({"type": "text", "text": part.caption})
    return parts


def _call_payload(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments_json},
    }


def tool_payload(tool: ToolSpec) -> dict[str, Any]:
    """One function offered to the model."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": json.loads(tool.parameters_json),
        },
    }


def message_payload(message: ChatMessage) -> dict[str, Any]:
    """One chat message in OpenAI form: a plain string unless it carries images."""
    if message.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": message.content_text,
        }
    if message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content_text or None,
            "tool_calls": [_call_payload(c) for c in message.tool_calls],
        }
    if not message.images:
        return {"role": message.role, "content": message.content_text}
    content = [item for part in message.parts for item in _part_payload(part)]
    return {"role": message.role, "content": content}


def request_payload(request: GenerationRequest, model: str) -> dict[str, Any]:
    """The JSON body of a streaming ``/chat/completions`` call for ``request``."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [message_payload(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "logprobs": request.logprobs,
    }
    if request.logprobs and request.top_logprobs:
        body["top_logprobs"] = request.top_logprobs
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.tools:
        body["tools"] = [tool_payload(t) for t in request.tools]
        body["tool_choice"] = "auto"
    return body


class ToolCallAssembler:
    """Builds the complete tool calls from a stream's ``delta.tool_calls`` pieces (the id and
    name come first, the arguments arrive in fragments, each keyed by ``index``)."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def feed(self, pieces: Any) -> None:
        """Add one delta's ``tool_calls`` list.

        Raises:
            EngineError: a piece that is not a tool-call fragment.
        """
        if not pieces:
            return
        try:
            for piece in pieces:
                call = self._calls.setdefault(
                    int(piece.get("index", 0)), {"id": "", "name": "", "arguments": ""}
                )
                function = piece.get("function") or {}
                call["id"] = str(piece.get("id") or call["id"])
                call["name"] = str(function.get("name") or call["name"])
                call["arguments"] += str(function.get("arguments") or "")
        except (AttributeError, TypeError, ValueError) as exc:
            raise protocol_error(f"bad tool_calls {str(pieces)[:200]!r}") from exc

    def calls(self) -> tuple[ToolCall, ...]:
        """The calls, in index order.

        Raises:
            EngineError: a call without a function name.
        """
        out = []
        for index in sorted(self._calls):
            call = self._calls[index]
            if not call["name"]:
                raise protocol_error(f"tool call {index} has no function name")
            out.append(
                ToolCall(call["id"] or f"call_{index}", call["name"], call["arguments"] or "{}")
            )
        return tuple(out)


def protocol_error(detail: str) -> EngineError:
    return EngineError(f"engine server sent a malformed stream: {detail}", code="engine_protocol")


def parse_logprobs(block: Any) -> tuple[TokenLogprob, ...]:
    """Read ``choices[0].logprobs`` (``{"content": [{token, logprob, top_logprobs}]}``)."""
    if not block:
        return ()
    try:
        return tuple(
            TokenLogprob(
                str(item["token"]),
                float(item["logprob"]),
                tuple(
                    (str(t["token"]), float(t["logprob"])) for t in item.get("top_logprobs") or ()
                ),
            )
            for item in block.get("content") or ()
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise protocol_error(f"bad logprobs {str(block)[:200]!r}") from exc


def parse_usage(block: Any) -> Usage | None:
    if not block:
        return None
    try:
        return Usage(int(block["prompt_tokens"]), int(block["completion_tokens"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise protocol_error(f"bad usage {block!r}") from exc


def server_message(body: str) -> str:
    """The human-readable error in a server's error body (OpenAI, vLLM, FastAPI shapes)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:MAX_ERROR_BODY] or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for value in (error, data.get("message"), data.get("detail")):
            if value:
                return str(value)[:MAX_ERROR_BODY]
    return body.strip()[:MAX_ERROR_BODY]


def http_error(status: int, message: str, retry_after: str | None = None) -> EngineError:
    """Map an HTTP error status to a typed engine error that keeps the server's message."""
    text = f"engine server answered HTTP {status}: {message}"
    if status in (429, 503):
        suffix = f" (retry after {retry_after} s)" if retry_after else ""
        return EngineOverloadedError(text + suffix)
    codes = {400: "engine_bad_request", 401: "engine_auth_failed", 403: "engine_auth_failed"}
    codes |= {404: "engine_not_found", 422: "engine_bad_request"}
    return EngineError(text, code=codes.get(status, "engine_http_error"))


class SseDecoder:
    """Incremental server-sent-events decoder: feed lines, get each event's data."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""

    def feed(self, raw: bytes) -> str | None:
        """Consume one line; return the data of the event it completes, if any.

        Raises:
            EngineError: a line that is not an SSE field, or an ``event: error``.
        """
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None  # comment / keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field not in ("id", "retry"):
            raise protocol_error(f"not an SSE line: {line[:200]!r}")
        return None

    def flush(self) -> str | None:
        """End the current event (blank line or end of stream)."""
        data, event = "\n".join(self._data), self._event
        self._data, self._event = [], ""
        if event == "error":
            raise EngineError(f"engine server reported an error: {server_message(data)}")
        return data if data else None


def decode_event(data: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise protocol_error(f"data is not JSON: {data[:200]!r}") from exc
    if not isinstance(event, dict):
        raise protocol_error(f"data is not an object: {data[:200]!r}")
    if event.get("error"):
        # vLLM and others report mid-stream failures as a data event with an error object.
        raise EngineError(f"engine server reported an error: {server_message(data)}")
    return event


def first_choice(event: dict[str, Any]) -> dict[str, Any] | None:
    choices = event.get("choices")
    if not choices:
        return None  # e.g. the final usage-only chunk
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise protocol_error(f"bad choices {str(choices)[:200]!r}")
    return choices[0]
