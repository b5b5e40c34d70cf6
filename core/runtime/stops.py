"""Stops received by another process: ``serve --role ingest`` receives the stop button, while
``serve --role worker`` writes the answer.

The receiving adapter cannot reach the answer, so it stores a ``STOP`` turn in the inbox
(durable, deduplicated like any turn). While this process writes answers, :class:`StopWatcher`
looks for such turns in their conversations every ``interval_s`` and stops the answers (the
engine request is aborted, nothing more is sent). The ``STOP`` turn itself is answered later,
with nothing (``core.answering.answer``). In one process the adapter stops the answer directly
and this watcher is not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.answering.interrupts import Interrupts
from core.errors import StoreError
from core.store.store import Store

log = logging.getLogger(__name__)


class StopWatcher:
    """Stops answers whose conversation has a stored ``STOP`` turn (a :class:`Service`).

    Args:
        store: The shared store.
        interrupts: The answers this process is writing.
        interval_s: How often to look while answers are being written.
    """

    def __init__(self, store: Store, interrupts: Interrupts, interval_s: float = 0.5) -> None:
        self.store = store
        self.interrupts = interrupts
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="kefu-stop-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check(self) -> int:
        """Stop every answer with a stored stop; returns how many were stopped."""
        keys = self.interrupts.running_keys()
        if not keys:
            return 0  # nothing is being written: no query at all
        stopped = 0
        for key in await self.store.pending_stops(keys):
            stopped += await self.interrupts.stop(key)
        return stopped

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except StoreError as exc:  # the database is away: look again next time
                log.warning("looking for stops failed: %s", exc)
            await asyncio.sleep(self.interval_s)
