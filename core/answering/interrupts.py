"""Answers being written, by conversation, so that a person's stop can abort one.

A platform's stop button (Telegram's ``can_stop`` drafts) reaches the core as an
adapter-level signal, not as a turn: a turn would wait in the inbox behind the very answer
it should stop, since a conversation's turns are answered one at a time. The adapter calls
:meth:`Interrupts.stop` (the :class:`core.ports.StopPort`), which aborts the engine request
of the answer running in that conversation; the answerer sees :attr:`Watch.stopped` and
sends nothing more.

``main.py`` builds one :class:`Interrupts` and gives it to the adapters' context and to the
answerer, so nothing is re-bound after construction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from prometheus_client import Counter

from core.model.turn import ConversationKey

log = logging.getLogger(__name__)

STOPS = Counter("kefu_answers_stopped_total", "Answers stopped by a person", ["result"])

Abort = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class Watch:
    """One answer being written; a context manager that unregisters it on exit.

    Attributes:
        key: Its conversation.
        abort: Aborts its engine request.
        stopped: Set once a stop was requested (the answer must not be sent).
    """

    key: ConversationKey
    abort: Abort
    registry: Interrupts = field(repr=False)
    stopped: bool = False

    def mark_stopped(self) -> bool:
        """Record the stop; False when it was already recorded (a second press)."""
        first = not self.stopped
        self.stopped = True
        return first

    def __enter__(self) -> Watch:
        self.registry.add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.registry.remove(self)


class Interrupts:
    """The answers being written in this process (implements :class:`core.ports.StopPort`)."""

    def __init__(self) -> None:
        self._running: dict[ConversationKey, Watch] = {}

    def watch(self, key: ConversationKey, abort: Abort) -> Watch:
        """Register the answer about to be written in ``key`` (use as ``with``)."""
        return Watch(key, abort, self)

    def add(self, watch: Watch) -> None:
        # One answer per conversation at a time (the worker's rule); a newer one replaces.
        self._running[watch.key] = watch

    def remove(self, watch: Watch) -> None:
        if self._running.get(watch.key) is watch:
            del self._running[watch.key]

    def running(self, key: ConversationKey) -> bool:
        return key in self._running

    def running_keys(self) -> tuple[ConversationKey, ...]:
        """The conversations with an answer being written right now."""
        return tuple(self._running)

    async def stop(self, key: ConversationKey) -> bool:
        """Abort the answer being written in ``key``; False when none is (already finished)."""
        watch = self._running.get(key)
        if watch is None:
            STOPS.labels("nothing_running").inc()
            log.info("stop in %s: no answer is being written", key.as_str())
            return False
        if watch.mark_stopped():
            await watch.abort()
            STOPS.labels("aborted").inc()
        return True
