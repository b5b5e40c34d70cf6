"""What the two local engines (llama.cpp and transformers) share around their scheduler."""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from core.engines._engine_thread import EngineThread
from core.engines.base import GenerationChunk, GenerationRequest, HealthStatus
from core.errors import InvalidInputError

S = TypeVar("S", bound=EngineThread[Any])


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class ScheduledEngine(ABC, Generic[S]):
    """An :class:`~core.engines.base.Engine` whose requests run on a scheduler's thread.

    A subclass sets :attr:`model_id` and :attr:`scheduler` (once started) and supplies the
    stream itself (:meth:`_generate`), what it holds besides the scheduler
    (:meth:`_forget_model`) and its health detail.
    """

    model_id: str
    scheduler: S | None

    def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        """Stream the answer to ``request`` (see :class:`~core.engines.base.Engine`).

        Raises:
            InvalidInputError: the request is malformed or the prompt is too long.
            EngineError: the engine is not started, closed, or inference failed.
        """
        return self._generate(request)

    async def abort(self, request_id: str) -> None:
        """Stop ``request_id``; its stream ends with ``finish_reason='abort'`` right away."""
        if self.scheduler is None:
            return
        job = self.scheduler.abort(request_id)
        if job is not None and not job.finished:
            # wake the consumer (it sees job.aborted); thread-safe if it runs on another loop
            job.loop.call_soon_threadsafe(job.queue.put_nowait, None)

    async def check_health(self) -> HealthStatus:
        scheduler = self.scheduler
        if scheduler is None:
            return HealthStatus(ok=False, detail="not started", model=self.model_id)
        if not scheduler.alive:
            return HealthStatus(ok=False, detail="engine thread stopped", model=self.model_id)
        return HealthStatus(ok=True, detail=self._health_detail(scheduler), model=self.model_id)

    async def stop(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        self._forget_model()
        if scheduler is not None:
            await asyncio.to_thread(scheduler.close)

    def _too_long(self, prompt_tokens: int) -> InvalidInputError:
        return InvalidInputError(
            f"prompt of {prompt_tokens} tokens is too long for {self.model_id}",
            code="prompt_too_long",
        )

    @abstractmethod
    def _generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]: ...

    @abstractmethod
    def _forget_model(self) -> None:
        """Drop what :meth:`start` loaded besides the scheduler."""

    @abstractmethod
    def _health_detail(self, scheduler: S) -> str: ...
