"""Request bookkeeping for the scheduler: jobs, running rows, the prefix LRU, delivery.

A :class:`Job` crosses threads (the event loop reads its queue, the engine thread feeds
it); a :class:`Row` is engine-thread-only state that turns chosen tokens into chunks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from core.engines._decoding import (
    IncrementalDetokenizer,
    SamplingParams,
    StopMatcher,
    token_logprob,
)
from core.engines._kv import PrefixKV
from core.engines._runner import PreparedPrompt
from core.engines.base import FinishReason, GenerationChunk, GenerationRequest, TokenLogprob, Usage

log = logging.getLogger(__name__)

Item = GenerationChunk | BaseException
Output = list[tuple["Job", Item]]


class Job:
    """One request travelling between the event loop and the engine thread.

    The event loop side reads :attr:`queue`; the engine thread feeds it with
    ``loop.call_soon_threadsafe``. Items are :class:`GenerationChunk`, an exception, or
    ``None`` (a wake-up sent by ``abort``; see ``TransformersEngine.generate``).
    """

    def __init__(
        self, request: GenerationRequest, prompt: PreparedPrompt, loop: asyncio.AbstractEventLoop
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


@dataclass(slots=True)
class Row:
    """Engine-thread state of one running request."""

    job: Job
    params: SamplingParams
    detokenizer: IncrementalDetokenizer
    stopper: StopMatcher
    last_token: int = -1
    pending: list[TokenLogprob] = field(default_factory=list)

    def consume(
        self,
        token: int,
        logprob: float,
        top: list[tuple[int, float]],
        tokenizer: Any,
        eos_ids: frozenset[int],
        out: Output,
    ) -> FinishReason | None:
        """Take the row's next token; stream its text; return why the row ends, if it does."""
        job = self.job
        if job.aborted:
            return "abort"
        job.completion_tokens += 1
        self.last_token = token
        if job.request.logprobs:
            self.pending.append(token_logprob(tokenizer, token, logprob, top))
        if token in eos_ids:
            return "stop"
        text = self.stopper.feed(self.detokenizer.push(token))
        if text or self.stopper.stopped:
            out.append((job, GenerationChunk(job.request_id, text, tuple(self.pending))))
            self.pending = []
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


class PrefixCache:
    """A small LRU of prompt-prefix KV, keyed by the prefix token ids."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[int, ...], PrefixKV] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[int, ...]) -> PrefixKV | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
        else:
            self.misses += 1
        return entry

    def put(self, key: tuple[int, ...], value: PrefixKV) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def deliver(out: Output) -> None:
    """Hand a step's output to the event loop(s) with one wake-up per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, Item]]] = {}
    for job, item in out:
        by_loop.setdefault(job.loop, []).append((job, item))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_put_all, items)
        except RuntimeError:  # loop closed: nobody is listening any more
            log.debug("dropping %d chunk(s) for a closed event loop", len(items))


def _put_all(items: list[tuple[Job, Item]]) -> None:
    for job, item in items:
        job.queue.put_nowait(item)
