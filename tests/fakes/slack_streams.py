"""Native streaming, thread status and suggested prompts for the fake Slack Web API.

Mixed into :class:`tests.fakes.slack_server.FakeSlack`. Like Slack:

* ``chat.startStream`` needs ``channel`` and ``thread_ts`` (a stream is always a reply) and,
  outside DMs, ``recipient_user_id`` and ``recipient_team_id``; ``markdown_text`` is capped
  at 12,000 characters. The streamed message appears in the thread at once.
* ``chat.appendStream`` / ``chat.stopStream`` need a message still in streaming state, else
  ``message_not_in_streaming_state``; ``stopStream`` may add ``blocks`` under the text.
* :meth:`StreamFeatures.close_stream` is Slack ending a stream on its own (it does after a
  while without appends): the message stays, and only ``chat.update`` can change it.
* ``assistant.threads.setStatus`` and ``setSuggestedPrompts`` are recorded and checked
  (required fields, 1-4 prompts with a title and a message).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_MARKDOWN = 12_000


@dataclass(slots=True)
class FakeStream:
    """One native stream: every markdown chunk and whether Slack still streams it."""

    channel: str
    ts: str
    thread_ts: str
    recipient: tuple[str, str] | None
    chunks: list[str] = field(default_factory=list)
    streaming: bool = True
    stopped_by_app: bool = False
    closed_by_slack: bool = False

    @property
    def markdown(self) -> str:
        return "".join(self.chunks)


@dataclass(frozen=True, slots=True)
class StatusCall:
    channel: str
    thread_ts: str
    status: str
    loading: tuple[str, ...]


def _markdown(params: dict[str, Any]) -> str:
    """The text a call adds: ``markdown_text`` and/or ``markdown_text`` chunks (what
    slack_sdk's ``chat_stream`` helper sends)."""
    chunks = params.get("chunks") or []
    chunks = json.loads(chunks) if isinstance(chunks, str) else chunks
    pieces = [str(c.get("text", "")) for c in chunks if c.get("type") == "markdown_text"]
    return str(params.get("markdown_text") or "") + "".join(pieces)


def _blocks(value: Any) -> list[Any]:
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])


class StreamFeatures:
    """State lives on the server instance; ``messages`` and ``_new_ts`` come from FakeSlack."""

    messages: dict[tuple[str, str], Any]
    streams: dict[tuple[str, str], FakeStream]
    statuses: list[StatusCall]
    suggested: list[dict[str, Any]]

    def init_streams(self) -> None:
        self.streams = {}
        self.statuses = []
        self.suggested = []

    def close_stream(self, channel: str, ts: str) -> None:
        """Slack ends the stream on its own (a timeout): appends and stops fail from now on."""
        stream = self.streams[(channel, ts)]
        stream.streaming, stream.closed_by_slack = False, True

    def _sync(self, stream: FakeStream) -> None:
        message = self.messages[(stream.channel, stream.ts)]
        message.text = stream.markdown

    def _m_chat_startStream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = str(params.get("channel") or ""), str(params.get("thread_ts") or "")
        if not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        user, team = params.get("recipient_user_id"), params.get("recipient_team_id")
        if not channel.startswith("D") and not (user and team):
            # Streams in channels must name who they are for.
            return {"ok": False, "error": "invalid_arguments"}
        markdown = _markdown(params)
        if len(markdown) > MAX_MARKDOWN:
            return {"ok": False, "error": "msg_too_long"}
        ts = self._new_ts()  # type: ignore[attr-defined]
        recipient = (str(user), str(team)) if user and team else None
        stream = FakeStream(channel, ts, thread_ts, recipient, [markdown] if markdown else [])
        self.streams[(channel, ts)] = stream
        self.messages[(channel, ts)] = self._posted(channel, ts, markdown, thread_ts)  # type: ignore[attr-defined]
        return {"ok": True, "channel": channel, "ts": ts}

    def _live(self, params: dict[str, Any]) -> FakeStream | dict[str, Any]:
        key = (str(params.get("channel") or ""), str(params.get("ts") or ""))
        stream = self.streams.get(key)
        if stream is None:
            return {"ok": False, "error": "message_not_found"}
        if not stream.streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        return stream

    def _m_chat_appendStream(self, params: dict[str, Any]) -> dict[str, Any]:
        stream = self._live(params)
        if isinstance(stream, dict):
            return stream
        markdown = _markdown(params)
        if not markdown:
            return {"ok": False, "error": "invalid_arguments"}
        if len(markdown) > MAX_MARKDOWN:
            return {"ok": False, "error": "msg_too_long"}
        stream.chunks.append(markdown)
        self._sync(stream)
        return {"ok": True, "channel": stream.channel, "ts": stream.ts}

    def _m_chat_stopStream(self, params: dict[str, Any]) -> dict[str, Any]:
        stream = self._live(params)
        if isinstance(stream, dict):
            return stream
        markdown = _markdown(params)
        if markdown:
            stream.chunks.append(markdown)
        stream.streaming, stream.stopped_by_app = False, True
        self._sync(stream)
        self.messages[(stream.channel, stream.ts)].blocks = _blocks(params.get("blocks"))
        return {"ok": True, "channel": stream.channel, "ts": stream.ts}

    def _m_assistant_threads_setStatus(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = params.get("channel_id"), params.get("thread_ts")
        if not channel or not thread_ts or "status" not in params:
            return {"ok": False, "error": "invalid_arguments"}
        loading = tuple(params.get("loading_messages") or ())
        self.statuses.append(
            StatusCall(str(channel), str(thread_ts), str(params["status"]), loading)
        )
        return {"ok": True}

    def _m_assistant_threads_setSuggestedPrompts(self, params: dict[str, Any]) -> dict[str, Any]:
        prompts = params.get("prompts")
        prompts = json.loads(prompts) if isinstance(prompts, str) else prompts
        if not params.get("channel_id") or not isinstance(prompts, list):
            return {"ok": False, "error": "invalid_arguments"}
        if not 1 <= len(prompts) <= 4 or not all(
            p.get("title") and p.get("message") for p in prompts
        ):
            return {"ok": False, "error": "invalid_arguments"}
        self.suggested.append(dict(params, prompts=prompts))
        return {"ok": True}
