"""Live events for the browser (Server-Sent Events): one channel per chat, one for the desk.

Events that matter after a reload (messages, state changes) are kept per channel, so a
page that reconnects with the id of the last event it saw gets what it missed. Ids grow
across restarts (they start from the clock), so an old id never hides a new event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import web

PING_S = 15.0


class EventKind(StrEnum):
    MESSAGE = "message"  # a reply for the customer (answer, notice, staff words)
    DRAFT = "draft"  # an answer being written (or "thinking")
    DRAFT_END = "draft_end"  # the live preview closed
    STATE = "state"  # who answers the conversation now
    DESK = "desk"  # something changed on the operator desk


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    kind: EventKind
    data: str  # JSON

    def encode(self) -> bytes:
        if not self.id:
            return b": ping\n\n"  # a comment: keeps proxies from closing an idle stream
        return f"id: {self.id}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()


PING = Event(0, EventKind.STATE, "")


class EventHub:
    """Publishes events to the pages subscribed to a channel.

    Args:
        keep: Events kept per channel for reconnecting pages.
    """

    def __init__(self, keep: int = 200) -> None:
        self._keep = keep
        self._last = 0
        self._kept: dict[str, deque[Event]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = {}

    def _next_id(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return self._last

    def publish(self, channel: str, kind: EventKind, payload: Any, *, keep: bool = True) -> Event:
        """Send ``payload`` (JSON-ready) to the channel's pages; keep it for reconnects."""
        event = Event(self._next_id(), kind, json.dumps(payload, ensure_ascii=False))
        if keep:
            self._kept.setdefault(channel, deque(maxlen=self._keep)).append(event)
        for queue in self._subscribers.get(channel, ()):
            queue.put_nowait(event)
        return event

    def kept(self, channel: str, after: int = 0) -> list[Event]:
        return [e for e in self._kept.get(channel, ()) if e.id > after]

    @contextlib.contextmanager
    def subscribe(self, channel: str, after: int = 0) -> Iterator[asyncio.Queue[Event | None]]:
        """A queue of the channel's events, starting with the kept ones newer than ``after``."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        for event in self.kept(channel, after):
            queue.put_nowait(event)
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(channel, set())
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(channel, None)

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        for queues in self._subscribers.values():
            for queue in queues:
                queue.put_nowait(None)


def last_event_id(request: web.Request) -> int:
    """The id a reconnecting page saw last (``Last-Event-ID``, or ``?after=`` on first load)."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    return int(raw) if raw.isdigit() else 0


async def stream(request: web.Request, hub: EventHub, channel: str) -> web.StreamResponse:
    """Serve ``channel`` as ``text/event-stream`` until the page or the server goes."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    with hub.subscribe(channel, last_event_id(request)) as queue:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), PING_S)
            except TimeoutError:
                event = PING
            if event is None or request.transport is None or request.transport.is_closing():
                break
            try:
                await response.write(event.encode())
            except ConnectionResetError:
                break  # the page went away; it comes back with Last-Event-ID
    return response
