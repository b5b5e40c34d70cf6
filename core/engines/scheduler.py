"""Iteration-level batching on one dedicated engine thread.

Every ``generate`` call becomes a :class:`Job`. The engine thread runs a loop:

1. take new jobs (waiting up to ``max_wait_ms`` to fill a batch when idle),
2. prefill the newcomers together (grouped by shared prefix, whose KV comes from a small
   LRU so only the suffix is computed), pick their first tokens, and merge their rows into
   the running batch with left padding,
3. run one decode step for all running rows, stream each row's new text to its own
   asyncio queue (one ``call_soon_threadsafe`` per step), and drop finished, aborted or
   abandoned rows from the cache.

So a request that arrives mid-generation joins at the next step instead of waiting for
the batch to finish. The thread also runs arbitrary calls (:meth:`BatchScheduler.call`),
so model loading and every torch operation happen on this one thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import torch

from core.engines._decoding import (
    IncrementalDetokenizer,
    SamplingParams,
    StopMatcher,
    make_generator,
    pick_tokens,
)
from core.engines._engine_thread import EngineThread
from core.engines._jobs import Job, Output, PrefixCache, Row
from core.engines._kv import KVBatch
from core.engines._runner import ModelRunner, PreparedPrompt
from core.engines.base import FinishReason
from core.errors import EngineError

__all__ = ["BatchScheduler", "Job", "PrefixCache"]
log = logging.getLogger(__name__)
T = TypeVar("T")
MIN_PREFIX_TOKENS = 8  # shorter shared prefixes are not worth a cache entry
# Newcomers are prefilled a few rows at a time: each prefill row holds its own copy of the
# shared prefix until it joins the batch, so 16 at once would briefly need 16 copies
# (~250 MB in fp32 for a 330-token prompt); on CPU 4 rows per forward pass is as fast.
PREFILL_ROWS = 4


class BatchScheduler(EngineThread[Job]):
    """Owns the engine thread and the running batch.

    The model, tokenizer and end-of-sequence ids arrive later through :meth:`attach`,
    which runs on the engine thread once the model is loaded there.

    Args:
        max_batch_size: Most rows decoded together.
        max_wait_ms: How long an idle engine waits for companions before prefilling.
        prefix_cache_size: Entries in the prefix-KV LRU (0 disables it).
        threads: torch intra-op threads for the engine thread (None leaves torch's default).
    """

    kind = "engine"

    def __init__(
        self,
        *,
        max_batch_size: int = 16,
        max_wait_ms: float = 5.0,
        prefix_cache_size: int = 4,
        threads: int | None = None,
    ) -> None:
        super().__init__("kefu-engine", log)
        self.max_batch_size = max(1, max_batch_size)
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.prefix_cache = PrefixCache(prefix_cache_size)
        self.threads = threads
        self.runner: ModelRunner | None = None
        self.tokenizer: Any = None
        self.eos_ids: frozenset[int] = frozenset()
        self.steps = 0
        self.max_rows_seen = 0
        self._calls: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._rows: list[Row] = []
        self._batch: KVBatch | None = None
        self._thread.start()

    # ---- event-loop side -------------------------------------------------------------

    def attach(self, runner: ModelRunner, tokenizer: Any, eos_ids: frozenset[int]) -> None:
        """Give the scheduler its model (called on the engine thread after loading)."""
        self.runner, self.tokenizer, self.eos_ids = runner, tokenizer, eos_ids

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the engine thread, between decode steps; await its result."""
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise EngineError("engine is closed")
            self._calls.append((fn, future))
            self._cond.notify()
        return await asyncio.wrap_future(future)

    @property
    def max_positions(self) -> int:
        return self._runner().shape.max_positions

    @property
    def running(self) -> int:
        return len(self._rows)

    def _check_accepting(self) -> None:
        super()._check_accepting()
        if self.runner is None:
            raise EngineError("engine is not started")

    # ---- engine thread ---------------------------------------------------------------

    def _main(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                while self._wait_for_work():
                    self._run_calls()
                    if self.runner is not None:
                        self._step()
        finally:
            self._fail_everything(EngineError("engine is closed"))

    def _has_work(self) -> bool:
        return bool(self._calls or self._incoming or self._rows)

    def _wait_for_work(self) -> bool:
        if not super()._wait_for_work():
            return False
        if not self._rows and self._incoming and self.max_wait_s > 0:
            self._gather_companions()
        return True

    def _gather_companions(self) -> None:
        """When idle, give concurrent requests ``max_wait_ms`` to arrive and share a prefill."""
        deadline = time.monotonic() + self.max_wait_s
        with self._cond:
            while len(self._incoming) < self.max_batch_size and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)

    def _run_calls(self) -> None:
        while True:
            with self._cond:
                if not self._calls:
                    return
                fn, future = self._calls.popleft()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)

    def _run(self, out: Output) -> None:
        if self._rows:
            self._decode_step(out)

    def _take_newcomers(self) -> list[Job]:
        room = self.max_batch_size - len(self._rows)
        taken: list[Job] = []
        with self._cond:
            while self._incoming and len(taken) < room:
                taken.append(self._incoming.popleft())
        return taken

    def _admit(self, out: Output) -> None:
        newcomers = []
        for job in self._take_newcomers():
            if job.aborted:
                self._finish(job, out, job.abort_chunk())
            else:
                newcomers.append(job)
        groups: dict[tuple[int, ...], list[Job]] = {}
        for job in newcomers:
            groups.setdefault(self._prefix_key(job.prompt), []).append(job)
        on_cpu = self._runner().device.type == "cpu"
        chunk = PREFILL_ROWS if on_cpu else self.max_batch_size  # GPUs like big batches
        for key, group in groups.items():
            for start in range(0, len(group), chunk):
                jobs = group[start : start + chunk]
                try:
                    self._prefill_group(key, jobs, out)
                except Exception as exc:
                    log.exception("prefill failed for %d request(s)", len(jobs))
                    for job in jobs:
                        self._finish(job, out, EngineError(f"prefill failed: {exc}"))

    def _prefix_key(self, prompt: PreparedPrompt) -> tuple[int, ...]:
        usable = self.prefix_cache.max_entries > 0 and prompt.prefix_len >= MIN_PREFIX_TOKENS
        return prompt.prefix if usable else ()

    def _prefill_group(
        self,
        key: tuple[int, ...],
        jobs: list[Job],
        out: Output,
    ) -> None:
        runner = self._runner()
        prefix = None
        if key:
            prefix = self.prefix_cache.get(key)
            if prefix is None:
                prefix = runner.compute_prefix(key)
                self.prefix_cache.put(key, prefix)
        batch = runner.start_batch([j.prompt for j in jobs], prefix)
        logits = runner.prefill(batch, [j.prompt for j in jobs])
        assert logits is not None
        if prefix is not None and runner.cascade:
            batch.detach_prefix(prefix)  # decode attends to one shared copy
        rows = [self._new_row(job) for job in jobs]
        keep = self._advance(rows, batch, logits, out)
        if len(keep) != len(rows):
            batch.select_rows(keep)
        self._join([rows[i] for i in keep], batch)

    def _join(self, rows: list[Row], batch: KVBatch) -> None:
        if not rows:
            return
        self._batch = batch if self._batch is None else KVBatch.merge(self._batch, batch)
        self._rows.extend(rows)
        self.max_rows_seen = max(self.max_rows_seen, len(self._rows))

    def _new_row(self, job: Job) -> Row:
        request = job.request
        generator = None
        if request.temperature > 0:
            generator = make_generator(request.seed, self._runner().device)
        params = SamplingParams(request.temperature, request.top_p, request.top_logprobs, generator)
        return Row(job, params, IncrementalDetokenizer(self.tokenizer), StopMatcher(request.stop))

    def _decode_step(self, out: Output) -> None:
        assert self._batch is not None
        logits = self._runner().decode(self._batch, [row.last_token for row in self._rows])
        self.steps += 1
        keep = self._advance(self._rows, self._batch, logits, out)
        if len(keep) != len(self._rows):
            self._rows = [self._rows[i] for i in keep]
            if self._rows:
                self._batch.select_rows(keep)
            else:
                self._batch = None

    def _advance(
        self, rows: list[Row], batch: KVBatch, logits: torch.Tensor, out: Output
    ) -> list[int]:
        """Pick each row's next token and stream it; return the indices of rows still going."""
        picked = pick_tokens(logits, [row.params for row in rows])
        max_positions = self._runner().shape.max_positions
        positions = batch.next_pos.tolist()
        keep: list[int] = []
        for index, row in enumerate(rows):
            reason: FinishReason | None = row.consume(
                picked.tokens[index],
                picked.logprobs[index],
                picked.top[index],
                self.tokenizer,
                self.eos_ids,
                out,
            )
            if reason is None and positions[index] + 1 >= max_positions:
                reason = "length"
            if reason is None:
                keep.append(index)
            else:
                self._finish(row.job, out, row.final_chunk(reason))
        return keep

    def _drop_aborted(self, out: Output) -> None:
        keep = [i for i, row in enumerate(self._rows) if not row.job.aborted]
        if len(keep) == len(self._rows):
            return
        for row in self._rows:
            if row.job.aborted:
                self._finish(row.job, out, row.job.abort_chunk())
        self._rows = [self._rows[i] for i in keep]
        if self._rows and self._batch is not None:
            self._batch.select_rows(keep)
        else:
            self._batch = None

    def _fail_running(self, error: EngineError, out: Output) -> None:
        for row in self._rows:
            self._finish(row.job, out, error)
        self._rows = []
        self._batch = None

    def _fail_everything(self, error: EngineError) -> None:
        super()._fail_everything(error)
        with self._cond:
            calls, self._calls = list(self._calls), deque()
        for _, future in calls:
            if future.set_running_or_notify_cancel():
                future.set_exception(error)

    def _runner(self) -> ModelRunner:
        if self.runner is None:
            raise EngineError("engine is not started")
        return self.runner
