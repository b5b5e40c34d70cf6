"""What both schedulers share: the job, its streaming row, delivery, the thread's lifecycle.

A :class:`QueuedJob` crosses threads (the event loop reads its queue, the engine thread
feeds it). A :class:`StreamingRow` is engine-thread state that turns decoded text into
chunks. :class:`EngineThread` owns the thread, the queue of new jobs and the running ones
by id; each scheduler adds its own model, rows and step.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from core.engines.base import FinishReason, GenerationChunk, GenerationRequest, TokenLogprob, Usage
from core.errors import EngineError

log = logging.getLogger(__name__)

Item = GenerationChunk | BaseException


class TokenisedPrompt(Protocol):
    """What a job needs of its prompt (each scheduler has its own prompt type)."""

    @property
    def ids(self) -> tuple[int, ...]: ...


P = TypeVar("P", bound=TokenisedPrompt)


class QueuedJob(Generic[P]):
    """One request travelling between the event loop and the engine thread.

    The event loop side reads :attr:`queue`; the engine thread feeds it with
    ``loop.call_soon_threadsafe``. Items are :class:`GenerationChunk`, an exception, or
    ``None`` (a wake-up sent by the engine's ``abort``).
    """

    def __init__(
        self, request: GenerationRequest, prompt: P, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.request = request
        self.prompt = prompt
        self.loop = loop
        self.queue: asyncio.Queue[Item | None] = asyncio.Queue()
        self.aborted = False  # set from any thread; the engine thread drops the row
        self.completion_tokens = 0
        self.finished = False

    @property
    def request_id(self) -> str:
        return self.request.request_id

    def usage(self) -> Usage:
        return Usage(len(self.prompt.ids), self.completion_tokens)

    def abort_chunk(self) -> GenerationChunk:
        return GenerationChunk(self.request_id, "", (), "abort", self.usage())


J = TypeVar("J", bound=QueuedJob[Any])


class _Decoder(Protocol):
    def flush(self) -> str: ...


class _Stopper(Protocol):
    stopped: bool

    def feed(self, text: str) -> str: ...

    def flush(self) -> str: ...


class StreamingRow(Generic[J]):
    """Turns a running request's decoded text into chunks (mixed into each scheduler's row).

    The row holds ``job``, ``detokenizer`` (held-back bytes or tokens), ``stopper`` and
    ``pending`` (logprobs not yet sent).
    """

    __slots__ = ()
    job: J
    detokenizer: _Decoder
    stopper: _Stopper
    pending: list[TokenLogprob]

    def release(self, decoded: str, out: list[tuple[J, Item]]) -> FinishReason | None:
        """Stream ``decoded`` (minus a stop string); return why the row ends, if it does."""
        job = self.job
        text = self.stopper.feed(decoded)
        if text or self.stopper.stopped:
            out.append((job, GenerationChunk(job.request_id, text, tuple(self.pending))))
            self.pending.clear()  # the chunk holds its own copy
        if self.stopper.stopped:
            return "stop"
        if job.completion_tokens >= job.request.max_new_tokens:
            return "length"
        return None

    def final_chunk(self, reason: FinishReason) -> GenerationChunk:
        """The last chunk: held-back text, remaining logprobs, the reason and usage."""
        job = self.job
        if reason == "abort":
            return job.abort_chunk()
        tail = ""
        if not self.stopper.stopped:
            tail = self.stopper.feed(self.detokenizer.flush()) + self.stopper.flush()
        return GenerationChunk(job.request_id, tail, tuple(self.pending), reason, job.usage())


def deliver(out: Sequence[tuple[QueuedJob[Any], Item]]) -> None:
    """Hand a step's output to the event loop(s) with one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[QueuedJob[Any], Item]]] = {}
    for job, item in out:
        by_loop.setdefault(job.loop, []).append((job, item))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_put_all, items)
        except RuntimeError:  # loop closed: nobody is listening any more
            log.debug("dropping %d chunk(s) for a closed event loop", len(items))


def _put_all(items: list[tuple[QueuedJob[Any], Item]]) -> None:
    for job, item in items:
        job.queue.put_nowait(item)


class EngineThread(ABC, Generic[J]):
    """The engine thread's lifecycle and the bookkeeping of its jobs.

    A subclass calls ``super().__init__`` first, sets up its own state, then starts
    ``self._thread`` (the thread reads that state). It supplies the thread's body
    (:meth:`_main`) and the parts of a step; :meth:`_step` runs them and fails the running
    requests when one raises.

    Args:
        thread_name: Name of the engine thread.
        logger: Where a failed step is logged (the subclass's own module logger).
    """

    kind: ClassVar[str]  # names the engine in the log line of a failed step

    def __init__(self, thread_name: str, logger: logging.Logger) -> None:
        self._log = logger
        self._cond = threading.Condition()
        self._incoming: deque[J] = deque()
        self._jobs: dict[str, J] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._main, name=thread_name, daemon=True)

    # ---- any thread ------------------------------------------------------------------

    def submit(self, job: J) -> None:
        """Queue ``job`` for the next step."""
        with self._cond:
            self._check_accepting()
            self._jobs[job.request_id] = job
            self._incoming.append(job)
            self._cond.notify()

    def abort(self, request_id: str) -> J | None:
        """Mark a job aborted; its row is freed before the next step."""
        with self._cond:
            job = self._jobs.get(request_id)
            if job is not None:
                job.aborted = True
                self._cond.notify()
            return job

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread; pending and running jobs end with an :class:`EngineError`."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _check_accepting(self) -> None:
        """Raise when no job may be queued now (called with the lock held)."""
        if self._closed:
            raise EngineError("engine is closed")

    # ---- engine thread ---------------------------------------------------------------

    @abstractmethod
    def _main(self) -> None: ...

    @abstractmethod
    def _has_work(self) -> bool:
        """Whether a step (or anything else) is due (called with the lock held)."""

    @abstractmethod
    def _drop_aborted(self, out: list[tuple[J, Item]]) -> None: ...

    @abstractmethod
    def _admit(self, out: list[tuple[J, Item]]) -> None: ...

    @abstractmethod
    def _run(self, out: list[tuple[J, Item]]) -> None:
        """One forward pass for the running rows, if there are any."""

    @abstractmethod
    def _fail_running(self, error: EngineError, out: list[tuple[J, Item]]) -> None: ...

    def _wait_for_work(self) -> bool:
        """Sleep until there is work; False once the engine is closed."""
        with self._cond:
            while not self._closed and not self._has_work():
                self._cond.wait()
            return not self._closed

    def _step(self) -> None:
        out: list[tuple[J, Item]] = []
        try:
            self._drop_aborted(out)
            self._admit(out)
            self._run(out)
        except Exception as exc:
            self._log.exception("%s step failed; failing the running requests", self.kind)
            self._fail_running(EngineError(f"inference failed: {exc}"), out)
        self._deliver(out)

    def _deliver(self, out: list[tuple[J, Item]]) -> None:
        deliver(out)

    def _finish(self, job: J, out: list[tuple[J, Item]], item: Item) -> None:
        job.finished = True
        with self._cond:
            self._jobs.pop(job.request_id, None)
        out.append((job, item))

    def _fail_everything(self, error: EngineError) -> None:
        out: list[tuple[J, Item]] = []
        self._fail_running(error, out)
        with self._cond:
            pending, self._incoming = list(self._incoming), deque()
        for job in pending:
            self._finish(job, out, error)
        self._deliver(out)
