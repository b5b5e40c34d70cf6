"""The local engines' shared surface (abort, health, stop) around an idle scheduler."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from core.engines._engine_thread import EngineThread, Item, QueuedJob
from core.engines._local import ScheduledEngine, usable_cores
from core.engines.base import ChatMessage, GenerationChunk, GenerationRequest
from core.errors import EngineError, InvalidInputError


@dataclass(frozen=True, slots=True)
class Ids:
    ids: tuple[int, ...]


class IdleThread(EngineThread[QueuedJob[Ids]]):
    """Queues jobs and never runs them (so they stay abortable until closed)."""

    kind = "idle"

    def __init__(self) -> None:
        super().__init__("kefu-test-idle", logging.getLogger(__name__))
        self._thread.start()

    def _main(self) -> None:
        try:
            while self._wait_for_work():
                pass
        finally:
            self._fail_everything(EngineError("engine is closed"))

    def _has_work(self) -> bool:
        return False

    def _drop_aborted(self, out: list[tuple[QueuedJob[Ids], Item]]) -> None: ...

    def _admit(self, out: list[tuple[QueuedJob[Ids], Item]]) -> None: ...

    def _run(self, out: list[tuple[QueuedJob[Ids], Item]]) -> None: ...

    def _fail_running(self, error: EngineError, out: list[tuple[QueuedJob[Ids], Item]]) -> None: ...


class IdleEngine(ScheduledEngine[IdleThread]):
    def __init__(self) -> None:
        self.model_id = "idle-model"
        self.scheduler: IdleThread | None = None
        self.model: object | None = None

    async def start(self) -> None:
        self.scheduler, self.model = IdleThread(), object()

    async def _generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        raise self._too_long(len(request.messages))
        yield  # an async generator, like the real engines' streams

    def _forget_model(self) -> None:
        self.model = None

    def _health_detail(self, scheduler: IdleThread) -> str:
        return f"queued {len(scheduler._incoming)}"


def queued_job(engine: IdleEngine) -> QueuedJob[Ids]:
    assert engine.scheduler is not None
    request = GenerationRequest(messages=(ChatMessage.text("user", "hi"),))
    job = QueuedJob(request, Ids((1, 2)), asyncio.get_running_loop())
    engine.scheduler.submit(job)
    return job


def test_usable_cores_is_at_least_one_and_at_most_the_machines() -> None:
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


async def test_before_start_health_says_so_and_abort_and_stop_do_nothing() -> None:
    engine = IdleEngine()
    health = await engine.check_health()
    assert (health.ok, health.detail, health.model) == (False, "not started", "idle-model")
    await engine.abort("nothing")
    await engine.stop()
    assert engine.scheduler is None


async def test_health_reports_the_detail_then_a_stopped_thread() -> None:
    engine = IdleEngine()
    await engine.start()
    queued_job(engine)
    health = await engine.check_health()
    assert (health.ok, health.detail) == (True, "queued 1")
    assert engine.scheduler is not None
    await asyncio.to_thread(engine.scheduler.close)
    health = await engine.check_health()
    assert (health.ok, health.detail) == (False, "engine thread stopped")


async def test_abort_wakes_the_consumer_and_marks_the_job() -> None:
    engine = IdleEngine()
    await engine.start()
    job = queued_job(engine)
    await engine.abort(job.request_id)
    assert job.aborted
    assert await asyncio.wait_for(job.queue.get(), 5) is None  # the wake-up
    await engine.stop()


async def test_stop_forgets_the_model_and_fails_what_was_queued() -> None:
    engine = IdleEngine()
    await engine.start()
    job = queued_job(engine)
    await engine.stop()
    assert engine.scheduler is None and engine.model is None
    assert isinstance(await asyncio.wait_for(job.queue.get(), 5), EngineError)


async def test_a_too_long_prompt_is_an_invalid_input_with_its_code() -> None:
    engine = IdleEngine()
    request = GenerationRequest(messages=(ChatMessage.text("user", "hi"),))
    with pytest.raises(
        InvalidInputError, match="prompt of 1 tokens is too long for idle-model"
    ) as caught:
        await engine.generate(request).__anext__()
    assert caught.value.code == "prompt_too_long"
