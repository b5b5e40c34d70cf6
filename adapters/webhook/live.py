"""In-process delivery of replies to HTTP requests that wait for them (``wait`` and SSE).

The outbox dispatcher hands every reply to :meth:`ReplyBook.record`; a request that waits
(``?wait=true``) or streams (``?stream=true``) subscribes to its turn and gets the replies,
including those recorded before it subscribed. A replayed request finds the replies
still in the book and gets the same answer.

This is deliberately in-process: the book lives in the process that runs the dispatcher,
so ``wait``/SSE need the request to reach the process that answers (one kefu process, or
sticky routing). The book is bounded; evicted or pre-restart replies are not in it, and a
waiting request then times out with 202 while callbacks still deliver every reply.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from adapters.webhook.schema import ReplyEvent
from core.model.turn import ConversationKey

LiveEvent = str | ReplyEvent  # partial answer text so far, or a delivered reply
_refs = itertools.count(1)


@dataclass(slots=True)
class _TurnReplies:
    replies: dict[int, ReplyEvent] = field(default_factory=dict)  # outbox id -> reply
    subscribers: list[asyncio.Queue[LiveEvent]] = field(default_factory=list)

    def ordered(self) -> list[ReplyEvent]:
        return sorted(self.replies.values(), key=lambda r: r.seq)


class LiveRequest:
    """One HTTP request waiting for the replies to its turn.

    Args:
        key: The turn's conversation.
        message_id: The turn's message id (the webhook-id).
        streaming: True for SSE (receives partial text), False for ``wait``.
    """

    def __init__(self, key: ConversationKey, message_id: str, *, streaming: bool) -> None:
        self.key = key
        self.message_id = message_id
        self.streaming = streaming
        self.turn_id: int | None = None
        self.events: asyncio.Queue[LiveEvent] = asyncio.Queue()
        self.finished = False

    def push_partial(self, text: str) -> None:
        if not self.finished:
            self.events.put_nowait(text)


class SseReplyStream:
    """The :class:`core.ports.ReplyStream` of an SSE request: partial text as events.

    Updates are coalesced to at most one event per ``min_interval_s``; ``close`` sends the
    last text held back, so the stream never ends on a stale partial.
    """

    def __init__(self, live: LiveRequest, min_interval_s: float = 0.05) -> None:
        self._live = live
        self._ref = f"sse:{next(_refs)}"
        self._min_interval_s = min_interval_s
        self._sent_at = 0.0
        self._sent = ""
        self._pending: str | None = None

    @property
    def ref(self) -> str | None:
        return self._ref

    async def update(self, text_so_far: str) -> None:
        now = time.monotonic()
        if now - self._sent_at < self._min_interval_s:
            self._pending = text_so_far
            return
        self._send(text_so_far, now)

    async def close(self) -> None:
        if self._pending is not None:
            self._send(self._pending, time.monotonic())

    def _send(self, text: str, now: float) -> None:
        self._pending = None
        if text != self._sent:
            self._live.push_partial(text)
            self._sent, self._sent_at = text, now


class ReplyBook:
    """Recent replies per turn, and the live requests waiting for them.

    Args:
        max_turns: Most turns remembered; the oldest without subscribers go first.
    """

    def __init__(self, max_turns: int = 10_000) -> None:
        self._turns: OrderedDict[int, _TurnReplies] = OrderedDict()
        self._max_turns = max_turns
        self._streaming: list[LiveRequest] = []

    def record(self, outbox_id: int, reply: ReplyEvent) -> None:
        """Remember a delivered reply and wake the requests waiting for its turn."""
        if reply.turn_id is None:
            return  # unsolicited (e.g. a staff relay): only callbacks carry those
        entry = self._entry(reply.turn_id)
        if outbox_id in entry.replies:
            return  # a retried delivery of the same outbox row
        entry.replies[outbox_id] = reply
        for queue in entry.subscribers:
            queue.put_nowait(reply)

    def replies(self, turn_id: int) -> list[ReplyEvent]:
        """Replies recorded for ``turn_id`` so far, in sequence order."""
        entry = self._turns.get(turn_id)
        return entry.ordered() if entry else []

    def register(self, live: LiveRequest) -> None:
        """Make a streaming request findable by :meth:`stream_for` (before the turn is stored)."""
        if live.streaming:
            self._streaming.append(live)

    def attach(self, live: LiveRequest, turn_id: int) -> None:
        """Subscribe ``live`` to ``turn_id``; replies already recorded are queued at once."""
        live.turn_id = turn_id
        entry = self._entry(turn_id)
        for reply in entry.ordered():
            live.events.put_nowait(reply)
        entry.subscribers.append(live.events)

    def release(self, live: LiveRequest) -> None:
        """Forget ``live`` (its HTTP request ended, for whatever reason)."""
        live.finished = True
        if live in self._streaming:
            self._streaming.remove(live)
        entry = self._turns.get(live.turn_id) if live.turn_id is not None else None
        if entry is not None and live.events in entry.subscribers:
            entry.subscribers.remove(live.events)

    def stream_for(self, key: ConversationKey, message_id: str | None) -> SseReplyStream | None:
        """The SSE stream for the turn being answered, if its request is streaming.

        Matches the turn's message id; without one, the oldest streaming request of the
        conversation (the worker answers one turn per conversation, in order).
        """
        candidates = [s for s in self._streaming if s.key == key and not s.finished]
        exact = [s for s in candidates if s.message_id == message_id]
        chosen = (exact or ([] if message_id else candidates))[:1]
        return SseReplyStream(chosen[0]) if chosen else None

    def _entry(self, turn_id: int) -> _TurnReplies:
        entry = self._turns.get(turn_id)
        if entry is None:
            entry = self._turns[turn_id] = _TurnReplies()
            self._evict()
        else:
            self._turns.move_to_end(turn_id)
        return entry

    def _evict(self) -> None:
        # Oldest first, stopping at the first idle turn: scanning the whole book for every
        # new turn made recording quadratic once the book was full.
        while len(self._turns) > self._max_turns:
            for turn_id, entry in self._turns.items():
                if not entry.subscribers:
                    del self._turns[turn_id]
                    break
            else:
                return  # every remembered turn has a request waiting for it
