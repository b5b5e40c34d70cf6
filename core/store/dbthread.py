"""The SQLite connection's own thread, where acknowledgements go first.

One thread owns the only connection, so every transaction of the process waits its turn on
it. A platform waits for its acknowledgement (the ack is sent once the turn is on disk);
the worker's claims and answers and the dispatcher's outbox bookkeeping do not have anyone
waiting on the wire. Measured under ``bench.edge`` (``bench/_ack_probe.py``), an ack's write
spent up to 10–20 ms at p99 queued behind those background transactions before it started.
Here a write marked urgent is run before every queued job that is not: it waits at most
for the transaction already running. Background work is not starved: the inbox's group
commit keeps at most one urgent batch queued at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

T = TypeVar("T")


class Priority(IntEnum):
    """Lower runs first; within one priority, first come first served."""

    URGENT = 0  # a request is waiting for its acknowledgement on it
    NORMAL = 1
    LAST = 2  # the thread's stop signal: after everything already queued


@dataclass(slots=True)
class _Job:
    function: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class DatabaseThread:
    """Runs blocking database functions one at a time on one thread, urgent ones first.

    Args:
        name: The thread's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    async def run(
        self, function: Callable[..., T], *args: Any, priority: Priority = Priority.NORMAL
    ) -> T:
        """Run ``function(*args)`` on the thread; returns (or raises) what it did.

        Cancelling the caller before the job starts skips it; once started it runs to the
        end (like ``run_in_executor``).

        Raises:
            RuntimeError: the thread was stopped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._submit(priority, _Job(function, args, loop, future))
        return await future

    def stop(self) -> None:
        """Run what is queued, then end the thread and wait for it."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._jobs.put((Priority.LAST, next(self._order), None))
            thread.join()

    def _submit(self, priority: Priority, job: _Job) -> None:
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self.name} is stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
                self._thread.start()
            self._jobs.put((priority, next(self._order), job))

    def _main(self) -> None:
        while True:
            _, _, job = self._jobs.get()
            if job is None:
                return
            if job.future.cancelled():
                continue
            try:
                result = job.function(*job.args)
            except BaseException as exc:  # handed to the caller, whatever it is
                _settle(job, _set_exception, exc)
            else:
                _settle(job, _set_result, result)


def _settle(job: _Job, setter: Callable[[asyncio.Future[Any], Any], None], value: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
        job.loop.call_soon_threadsafe(setter, job.future, value)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
