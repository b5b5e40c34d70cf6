"""A fake OpenAI-compatible chat server that can answer with function calls.

A real aiohttp server on 127.0.0.1 (port 0). Each POST ``/v1/chat/completions`` takes the
next scripted reply: :class:`CallTools` streams ``delta.tool_calls`` (id and name first,
then the arguments in fragments, as vLLM and OpenAI do) and finishes with
``finish_reason: "tool_calls"``; :class:`SayText` streams text tokens with logprobs. Every
request body is recorded, so tests can check which tools were offered and which tool
results were sent back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class CallTools:
    """Reply with these calls: (name, arguments as a dict)."""

    calls: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True)
class SayText:
    """Reply with this text, one token per word, each with ``logprob``."""

    text: str
    logprob: float = -0.05


@dataclass
class FakeToolServer:
    """The server's script and what it received."""

    script: list[CallTools | SayText] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if not self.script:
            return web.json_response({"error": {"message": "script exhausted"}}, status=500)
        reply = self.script.pop(0)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        events = _tool_events(reply) if isinstance(reply, CallTools) else _text_events(reply)
        for event in events:
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "qwen-vl", "object": "model"}]})


def _chunk(
    delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [choice]}


def _tool_events(reply: CallTools) -> list[dict[str, Any]]:
    events = [_chunk({"role": "assistant", "content": None})]
    for index, (name, arguments) in enumerate(reply.calls):
        head = {"index": index, "id": f"call_{index}", "type": "function"}
        events.append(
            _chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        )
        text = json.dumps(arguments, ensure_ascii=False)
        for start in range(0, len(text), 7):  # arguments arrive in fragments
            piece = {"index": index, "function": {"arguments": text[start : start + 7]}}
            events.append(_chunk({"tool_calls": [piece]}))
    events.append(_chunk({}, "tool_calls"))
    return events


def _text_events(reply: SayText) -> list[dict[str, Any]]:
    events = []
    for index, word in enumerate(reply.text.split(" ")):
        token = word if index == 0 else " " + word
        logprobs = {"content": [{"token": token, "logprob": reply.logprob, "top_logprobs": []}]}
        events.append(_chunk({"content": token}, None, logprobs))
    events.append(_chunk({}, "stop"))
    return events


@asynccontextmanager
async def fake_tool_server(script: list[CallTools | SayText]) -> AsyncIterator[FakeToolServer]:
    """Run a :class:`FakeToolServer` on 127.0.0.1 with ``script``; its ``url`` ends in /v1."""
    server = FakeToolServer(list(script))
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    app.router.add_get("/v1/models", server.models)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield server
    finally:
        await runner.cleanup()
