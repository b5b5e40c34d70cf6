"""Request bookkeeping for the torch scheduler: jobs, running rows, the prefix LRU.

A :class:`Job` crosses threads (see :class:`~core.engines._engine_thread.QueuedJob`); a
:class:`Row` is engine-thread-only state that turns chosen tokens into chunks.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from core.engines._decoding import (
    IncrementalDetokenizer,
    SamplingParams,
    StopMatcher,
    token_logprob,
)
from core.engines._engine_thread import Item, QueuedJob, StreamingRow
from core.engines._kv import PrefixKV
from core.engines._runner import PreparedPrompt
from core.engines.base import FinishReason, TokenLogprob

Output = list[tuple["Job", Item]]


class Job(QueuedJob[PreparedPrompt]):
    """One request of the torch scheduler (its prompt may carry image inputs)."""


@dataclass(slots=True)
class Row(StreamingRow[Job]):
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
        return self.release(self.detokenizer.push(token), out)


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
