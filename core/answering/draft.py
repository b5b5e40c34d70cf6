"""Write the model's draft within a time budget, and give up as soon as it cannot pass.

A small CPU model that is going to be handed off anyway should not make the customer wait
for 256 tokens first. :func:`write_draft` streams the engine's answer and stops it (the
engine's batch slot is freed with :meth:`Engine.abort`) when:

- the **deadline** passes (the customer gets the handoff notice instead of a late answer);
- the brain's :class:`DraftGuard` says the text so far can no longer pass the assessment
  (an invented price, date, order number or specification already written);
- the tokens so far are so unsure (geometric-mean probability below a floor, over enough
  content tokens) that the answer would be withheld anyway.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.answering.bot import DraftGuard
from core.answering.confidence import is_content_token
from core.engines.base import Engine, GenerationChunk, GenerationRequest, TokenLogprob

PreviewCallback = Callable[[GenerationChunk, str], Awaitable[None]]
__all__ = ["Draft", "DraftBudget", "DraftGuard", "write_draft"]


@dataclass(frozen=True, slots=True)
class DraftBudget:
    """Limits of the model path.

    Attributes:
        deadline_s: Wall-clock seconds the draft may take; past it the draft is abandoned.
        min_mean_probability: Give up when the geometric-mean probability of the content
            tokens so far falls below this ...
        min_tokens: ... once at least this many content tokens were written.
    """

    deadline_s: float = 4.0
    min_mean_probability: float = 0.25
    min_tokens: int = 12


@dataclass(frozen=True, slots=True)
class Draft:
    """What the model wrote, and why it was stopped early (None: it finished)."""

    text: str
    logprobs: tuple[TokenLogprob, ...]
    stopped: str | None
    seconds: float


def unsure_reason(logprobs: list[TokenLogprob], budget: DraftBudget) -> str | None:
    """Why the tokens so far are too unsure to become a sendable answer, or None."""
    content = [t.logprob for t in logprobs if is_content_token(t.token)]
    if len(content) < budget.min_tokens:
        return None
    mean = math.exp(sum(content) / len(content))
    if mean < budget.min_mean_probability:
        return (
            f"the model is unsure: mean token probability {mean:.2f} < "
            f"{budget.min_mean_probability:.2f} after {len(content)} tokens"
        )
    return None


async def write_draft(
    engine: Engine,
    request: GenerationRequest,
    budget: DraftBudget,
    guard: DraftGuard | None = None,
    on_chunk: PreviewCallback | None = None,
) -> Draft:
    """Stream ``request`` through ``engine`` under ``budget`` and ``guard``.

    Raises:
        EngineError: the engine failed (not a deadline or an early stop: those return a
            :class:`Draft` whose ``stopped`` says why).
    """
    started = time.perf_counter()
    pieces: list[str] = []
    logprobs: list[TokenLogprob] = []
    stopped: str | None = None
    chunks = engine.generate(request)
    try:
        async with asyncio.timeout(budget.deadline_s):
            async for chunk in chunks:
                pieces.append(chunk.text)
                logprobs.extend(chunk.logprobs)
                text_so_far = "".join(pieces)
                if on_chunk is not None:
                    await on_chunk(chunk, text_so_far)
                if chunk.finish_reason is not None:
                    break
                stopped = (guard.doomed(text_so_far) if guard else None) or unsure_reason(
                    logprobs, budget
                )
                if stopped is not None:
                    break
    except TimeoutError:
        stopped = f"no answer within the {budget.deadline_s:g} s budget"
    finally:
        await _close(chunks)
    if stopped is not None:
        await engine.abort(request.request_id)
    text = "".join(pieces).strip()
    return Draft(text, tuple(logprobs), stopped, time.perf_counter() - started)


async def _close(chunks: object) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
