"""The engine-thread base on a scripted scheduler: no model, one letter per step and row."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import pytest

from core.engines._engine_thread import EngineThread, Item, QueuedJob, StreamingRow
from core.engines._text import StopMatcher, Utf8Stream
from core.engines.base import ChatMessage, GenerationChunk, GenerationRequest, TokenLogprob
from core.errors import EngineError

log = logging.getLogger("tests.engine_thread")


@dataclass(frozen=True, slots=True)
class Ids:
    ids: tuple[int, ...]


class ScriptJob(QueuedJob[Ids]):
    pass


Out = list[tuple[ScriptJob, Item]]


@dataclass(slots=True)
class ScriptRow(StreamingRow[ScriptJob]):
    job: ScriptJob
    stopper: StopMatcher
    detokenizer: Utf8Stream = field(default_factory=Utf8Stream)
    pending: list[TokenLogprob] = field(default_factory=list)


class ScriptThread(EngineThread[ScriptJob]):
    """Each step streams one byte of ``text`` to every row; ``broken`` makes a step raise."""

    kind = "script"

    def __init__(self, text: bytes, *, paused: bool = False) -> None:
        super().__init__("kefu-test", log)
        self.text = text
        self.paused = paused  # admit nothing until unpaused (jobs stay queued)
        self.broken = False
        self.delay_s = 0.0
        self.rows: list[ScriptRow] = []
        self._thread.start()

    def _main(self) -> None:
        try:
            while self._wait_for_work():
                self._step()
        finally:
            self._fail_everything(EngineError("engine is closed"))

    def _has_work(self) -> bool:
        return bool(self.rows or (self._incoming and not self.paused))

    def _drop_aborted(self, out: Out) -> None:
        for row in [r for r in self.rows if r.job.aborted]:
            self.rows.remove(row)
            self._finish(row.job, out, row.final_chunk("abort"))

    def _admit(self, out: Out) -> None:
        with self._cond:
            while self._incoming and not self.paused:
                job = self._incoming.popleft()
                self.rows.append(ScriptRow(job, StopMatcher(job.request.stop)))

    def _run(self, out: Out) -> None:
        if self.broken:
            raise RuntimeError("kaput")
        time.sleep(self.delay_s)
        for row in list(self.rows):
            job = row.job
            piece = self.text[job.completion_tokens : job.completion_tokens + 1]
            job.completion_tokens += 1
            reason = row.release(row.detokenizer.push(piece), out)
            if reason is None and job.completion_tokens >= len(self.text):
                reason = "stop"
            if reason is not None:
                self.rows.remove(row)
                self._finish(job, out, row.final_chunk(reason))

    def _fail_running(self, error: EngineError, out: Out) -> None:
        for row in self.rows:
            self._finish(row.job, out, error)
        self.rows = []


def job_for(max_new_tokens: int = 64, stop: tuple[str, ...] = ()) -> ScriptJob:
    request = GenerationRequest(
        messages=(ChatMessage.text("user", "hi"),), max_new_tokens=max_new_tokens, stop=stop
    )
    return ScriptJob(request, Ids((1, 2, 3)), asyncio.get_running_loop())


async def drain(job: ScriptJob) -> list[Item]:
    items: list[Item] = []
    while True:
        item = await asyncio.wait_for(job.queue.get(), 10)
        assert item is not None
        items.append(item)
        if isinstance(item, BaseException) or item.finish_reason is not None:
            return items


def text_of(items: list[Item]) -> str:
    return "".join(i.text for i in items if isinstance(i, GenerationChunk))


async def test_a_job_streams_to_its_end_with_usage() -> None:
    engine = ScriptThread("héllo".encode())
    job = job_for()
    engine.submit(job)
    items = await drain(job)
    engine.close()
    assert text_of(items) == "héllo"  # the two bytes of é come out as one character
    last = items[-1]
    assert isinstance(last, GenerationChunk) and last.finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 6)
    assert job.finished and engine.abort(job.request_id) is None  # no longer tracked


async def test_stop_strings_and_the_token_limit_end_a_row() -> None:
    engine = ScriptThread(b"hello world")
    stopped, limited = job_for(stop=("lo",)), job_for(max_new_tokens=4)
    engine.submit(stopped)
    engine.submit(limited)
    stopped_items, limited_items = await drain(stopped), await drain(limited)
    engine.close()
    assert text_of(stopped_items) == "hel"
    assert stopped_items[-1].finish_reason == "stop"  # type: ignore[union-attr]
    assert text_of(limited_items) == "hell"
    assert limited_items[-1].finish_reason == "length"  # type: ignore[union-attr]


async def test_abort_marks_the_job_and_ends_its_row() -> None:
    engine = ScriptThread(b"x" * 1000)
    engine.delay_s = 0.01  # the job would take ten seconds to finish by itself
    job = job_for(max_new_tokens=1000)
    engine.submit(job)
    assert await asyncio.wait_for(job.queue.get(), 10) is not None  # it is running
    assert engine.abort(job.request_id) is job and job.aborted
    items = await drain(job)
    engine.close()
    assert items[-1].finish_reason == "abort"  # type: ignore[union-attr]
    assert engine.abort("unknown") is None


async def test_close_fails_queued_jobs_and_refuses_new_ones() -> None:
    engine = ScriptThread(b"abc", paused=True)
    job = job_for()
    engine.submit(job)
    assert engine.alive
    await asyncio.to_thread(engine.close)
    assert not engine.alive
    items = await drain(job)
    assert isinstance(items[-1], EngineError) and job.finished
    with pytest.raises(EngineError, match="engine is closed"):
        engine.submit(job_for())


async def test_a_failing_step_fails_the_running_jobs_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = ScriptThread(b"abc", paused=True)
    engine.broken = True
    job = job_for()
    engine.submit(job)
    with caplog.at_level(logging.ERROR, logger=log.name):
        with engine._cond:
            engine.paused = False
            engine._cond.notify()
        items = await drain(job)
    assert isinstance(items[-1], EngineError) and "inference failed: kaput" in str(items[-1])
    assert "script step failed; failing the running requests" in caplog.text
    engine.broken = False
    again = job_for()
    engine.submit(again)
    assert text_of(await drain(again)) == "abc"
    engine.close()
