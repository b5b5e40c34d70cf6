"""Per-token decoding helpers: token choice with logprobs, incremental text, stop strings.

These run on the engine thread once per decode step, so they work on whole-batch tensors
where they can and keep per-row Python work small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.engines._text import REPLACEMENT, StopMatcher
from core.engines.base import TokenLogprob

__all__ = ["REPLACEMENT", "IncrementalDetokenizer", "StopMatcher", "pick_tokens", "token_logprob"]


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How one row picks its next token."""

    temperature: float
    top_p: float
    top_logprobs: int
    generator: torch.Generator | None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True, slots=True)
class Picked:
    """The chosen token of every row, with its log-probability and alternatives."""

    tokens: list[int]
    logprobs: list[float]
    top: list[list[tuple[int, float]]]


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """A per-request RNG, so one request's seed reproduces its samples whatever else runs."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def pick_tokens(logits: torch.Tensor, params: Sequence[SamplingParams]) -> Picked:
    """Choose one token per row of ``logits`` (``[rows, vocab]``).

    Log-probabilities are those of the model's own distribution (log_softmax of the raw
    logits, before temperature or top-p), which is what confidence scoring needs.
    """
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    chosen = logprobs.argmax(dim=-1)
    sampled_rows = [i for i, p in enumerate(params) if not p.greedy]
    if sampled_rows:
        chosen = chosen.clone()
        for row in sampled_rows:
            chosen[row] = _sample(logprobs[row], params[row])
    chosen_logprobs = logprobs.gather(1, chosen[:, None]).squeeze(1)
    top_k = max((p.top_logprobs for p in params), default=0)
    top: list[list[tuple[int, float]]] = [[] for _ in params]
    if top_k > 0:
        values, indices = logprobs.topk(top_k, dim=-1)
        value_rows, index_rows = values.tolist(), indices.tolist()
        for row, p in enumerate(params):
            k = p.top_logprobs
            top[row] = list(zip(index_rows[row][:k], value_rows[row][:k], strict=True))
    return Picked(chosen.tolist(), chosen_logprobs.tolist(), top)


def _sample(row_logprobs: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    probs = torch.softmax(row_logprobs / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        cumulative = sorted_probs.cumsum(0)
        # keep the smallest set whose mass reaches top_p (the first token always stays)
        drop = cumulative - sorted_probs >= params.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=params.generator)[0]


class IncrementalDetokenizer:
    """Turns a growing list of token ids into text deltas without splitting characters.

    Byte-level BPE tokens can end in the middle of a multi-byte UTF-8 character (CJK,
    emoji); decoding such a prefix yields U+FFFD. The delta is held back until the
    character is complete. Only a short window of recent ids is decoded each time, so the
    cost per token stays constant.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def push(self, token_id: int) -> str:
        """Add one token; return the newly completed text (possibly empty)."""
        self._ids.append(token_id)
        decode = self._tokenizer.decode
        before = decode(
            self._ids[self._prefix_offset : self._read_offset], skip_special_tokens=True
        )
        after = decode(self._ids[self._prefix_offset :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self._prefix_offset = self._read_offset
            self._read_offset = len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back at the end of generation.

        A character cut off by the token limit would decode to U+FFFD; it is dropped rather
        than shown to a customer as garbage.
        """
        before = self._tokenizer.decode(
            self._ids[self._prefix_offset : self._read_offset], skip_special_tokens=True
        )
        after = self._tokenizer.decode(self._ids[self._prefix_offset :], skip_special_tokens=True)
        self._prefix_offset = self._read_offset = len(self._ids)
        return after[len(before) :].rstrip(REPLACEMENT) if len(after) > len(before) else ""


def token_logprob(
    tokenizer: Any, token_id: int, logprob: float, top: list[tuple[int, float]]
) -> TokenLogprob:
    """Build the public :class:`TokenLogprob` for one chosen token."""
    alternatives = tuple((tokenizer.decode([tid]), value) for tid, value in top)
    return TokenLogprob(tokenizer.decode([token_id]), logprob, alternatives)
