"""Requests and rows of the llama.cpp scheduler, and token choice on numpy logits.

A :class:`LlamaJob` crosses threads (the event loop reads its queue, the engine thread
feeds it); a :class:`Slot` is engine-thread state: one sequence of the shared KV cache,
the prompt tokens it still has to feed, and what turns its tokens into chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.engines._engine_thread import Item, QueuedJob, StreamingRow
from core.engines._text import StopMatcher, Utf8Stream
from core.engines.base import FinishReason, GenerationRequest, TokenLogprob


@dataclass(frozen=True, slots=True)
class Prompt:
    """A tokenised prompt; its first ``prefix_len`` ids (the system message) may be shared."""

    ids: tuple[int, ...]
    prefix_len: int = 0

    @property
    def prefix(self) -> tuple[int, ...]:
        return self.ids[: self.prefix_len]


class LlamaJob(QueuedJob[Prompt]):
    """One request of the llama.cpp scheduler, with the counts that pace its steps."""

    def __init__(
        self, request: GenerationRequest, prompt: Prompt, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(request, prompt, loop)
        # chunks handed to the event loop, and how many of them the consumer has taken
        # (see LlamaScheduler._pace); plain ints, each written by one thread only
        self.sent = 0
        self.taken = 0


Output = list[tuple[LlamaJob, Item]]


@dataclass(slots=True)
class Slot(StreamingRow[LlamaJob]):
    """A running request: its sequence in the KV cache and its streaming state."""

    job: LlamaJob
    seq: int
    todo: list[int]  # prompt tokens not yet fed to the model
    next_pos: int
    reserved: int  # KV cells held back for this row (suffix + answer)
    rng: np.random.Generator | None
    detokenizer: Utf8Stream = field(default_factory=Utf8Stream)
    stopper: StopMatcher = field(default_factory=lambda: StopMatcher(()))
    pending: list[TokenLogprob] = field(default_factory=list)
    last_token: int = -1

    @property
    def decoding(self) -> bool:
        return not self.todo


@dataclass(frozen=True, slots=True)
class Pick:
    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]


def pick_tokens(logits: np.ndarray, slots: list[Slot]) -> list[Pick]:
    """Choose each row's next token from ``logits`` (``[rows, vocab]``, float32).

    Logprobs are those of the model's own distribution (log-softmax of the raw logits,
    before temperature or top-p), which is what confidence scoring needs.
    """
    top_row = logits.max(axis=1, keepdims=True)
    shifted = logits - top_row
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    picks: list[Pick] = []
    for index, slot in enumerate(slots):
        request = slot.job.request
        row = shifted[index]
        if request.temperature > 0 and slot.rng is not None:
            token = _sample(row, request.temperature, request.top_p, slot.rng)
        else:
            token = int(row.argmax())
        top: tuple[tuple[int, float], ...] = ()
        if request.logprobs and request.top_logprobs > 0:
            k = min(request.top_logprobs, row.shape[0])
            best = np.argpartition(-row, k - 1)[:k]
            best = best[np.argsort(-row[best], kind="stable")]
            top = tuple((int(t), float(row[t] - log_norm[index])) for t in best)
        picks.append(Pick(token, float(row[token] - log_norm[index]), top))
    return picks


def _sample(row: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    """Sample from ``softmax(row / temperature)`` restricted to the top-p nucleus."""
    scaled = row.astype(np.float64) / temperature
    probs = np.exp(scaled - scaled.max())
    if top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        ordered = probs[order]
        cumulative = np.cumsum(ordered) / ordered.sum()
        # keep the smallest set whose mass reaches top_p (the first token always stays)
        drop = order[(cumulative - ordered / ordered.sum()) >= top_p]
        probs[drop] = 0.0
    cumulative = np.cumsum(probs)
    return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))


def consume(
    slot: Slot, pick: Pick, piece_of: Callable[[int], bytes], is_end: bool, out: Output
) -> FinishReason | None:
    """Take the row's next token; stream its text; return why the row ends, if it does.

    ``piece_of`` gives a token's bytes (empty for control tokens); ``is_end`` marks the
    end of the turn.
    """
    job = slot.job
    if job.aborted:
        return "abort"
    job.completion_tokens += 1
    slot.last_token = pick.token
    request = job.request
    piece = piece_of(pick.token)
    if request.logprobs:
        top = tuple((_text_of(piece_of(t)), lp) for t, lp in pick.top)
        slot.pending.append(TokenLogprob(_text_of(piece), pick.logprob, top))
    if is_end:
        return "stop"
    return slot.release(slot.detokenizer.push(piece), out)


def _text_of(piece: bytes) -> str:
    return piece.decode("utf-8", "replace")
