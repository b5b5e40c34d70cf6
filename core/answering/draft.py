"""Write the model's draft within a time budget, and give up as soon as it cannot pass.

A small CPU model that is going to be handed off anyway should not make the customer wait
for 256 tokens first. :func:`write_draft` streams the engine's answer and stops it (the
engine's batch slot is freed with :meth:`Engine.abort`) when:

- the **deadline** passes (the customer gets the handoff notice instead of a late answer);
- the brain's :class:`DraftGuard` says the text so far can no longer pass the assessment
  (an invented price, date, order number or specification already written);
- the tokens so far are so unsure (geometric-mean probability below a floor, over enough
  content tokens) that the answer would be withheld anyway.

Engines with function calling (an OpenAI-compatible server: vLLM, a Qwen-VL checkpoint) are
offered the brain's functions; the model chooses them and the loop here runs them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from core.answering.bot import DraftGuard, Fact, FunctionBox
from core.answering.confidence import is_content_token
from core.engines.base import (
    ChatMessage,
    Engine,
    GenerationChunk,
    GenerationRequest,
    TokenLogprob,
    ToolCall,
    new_request_id,
)
from core.model.turn import TextPart

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
        max_tool_rounds: Function-calling rounds before the model must answer.
    """

    deadline_s: float = 4.0
    min_mean_probability: float = 0.25
    min_tokens: int = 12
    max_tool_rounds: int = 3


@dataclass(frozen=True, slots=True)
class Draft:
    """What the model wrote, and why it was stopped early (None: it finished).

    ``facts`` are the results of the functions the model called (grounding evidence).
    """

    text: str
    logprobs: tuple[TokenLogprob, ...]
    stopped: str | None
    seconds: float
    facts: tuple[Fact, ...] = ()


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


@dataclass(slots=True)
class _Pass:
    """One generation: its text, logprobs, the calls it asked for, why it stopped early."""

    pieces: list[str] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    calls: tuple[ToolCall, ...] = ()
    stopped: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def finish(self, calls: tuple[ToolCall, ...]) -> None:
        self.calls = calls

    def stop(self, reason: str | None) -> None:
        self.stopped = reason


async def _one_pass(
    result: _Pass,
    engine: Engine,
    request: GenerationRequest,
    budget: DraftBudget,
    guard: DraftGuard | None,
    on_chunk: PreviewCallback | None,
) -> None:
    """Fill ``result`` as the chunks come (so a deadline keeps what was written)."""
    chunks = engine.generate(request)
    try:
        async for chunk in chunks:
            result.pieces.append(chunk.text)
            result.logprobs.extend(chunk.logprobs)
            if on_chunk is not None and chunk.text:
                await on_chunk(chunk, result.text)
            if chunk.finish_reason is not None:
                result.finish(chunk.tool_calls)
                break
            result.stop(
                (guard.doomed(result.text) if guard else None)
                or unsure_reason(result.logprobs, budget)
            )
            if result.stopped is not None:
                break
    finally:
        await _close(chunks)


async def write_draft(
    engine: Engine,
    request: GenerationRequest,
    budget: DraftBudget,
    guard: DraftGuard | None = None,
    on_chunk: PreviewCallback | None = None,
    functions: FunctionBox | None = None,
) -> Draft:
    """Stream ``request`` through ``engine`` under ``budget`` and ``guard``.

    With ``functions``, the model is offered them; each call it makes is run, its result
    sent back, and the model asked again (at most ``budget.max_tool_rounds`` times), all
    within the one deadline.

    Raises:
        EngineError: the engine failed (not a deadline or an early stop: those return a
            :class:`Draft` whose ``stopped`` says why).
    """
    started = time.perf_counter()
    facts: list[Fact] = []
    logprobs: list[TokenLogprob] = []
    current = replace(request, tools=functions.specs) if functions else request
    result = _Pass()
    try:
        async with asyncio.timeout(budget.deadline_s):
            for round_ in range(budget.max_tool_rounds + 1):
                result = _Pass()
                await _one_pass(result, engine, current, budget, guard, on_chunk)
                logprobs.extend(result.logprobs)
                if not (functions and result.calls) or result.stopped:
                    break
                if round_ == budget.max_tool_rounds:
                    result.stop(f"the model still called functions after {round_} rounds")
                    break
                current, found = await _answer_calls(current, result, functions)
                facts.extend(found)
                guard = functions.guard(tuple(facts))
    except TimeoutError:
        logprobs.extend(result.logprobs)
        result.stop(f"no answer within the {budget.deadline_s:g} s budget")
    if result.stopped is not None:
        await engine.abort(current.request_id)
    seconds = time.perf_counter() - started
    return Draft(result.text.strip(), tuple(logprobs), result.stopped, seconds, tuple(facts))


async def _answer_calls(
    request: GenerationRequest, result: _Pass, functions: FunctionBox
) -> tuple[GenerationRequest, list[Fact]]:
    """The next request: the assistant's calls and one tool message per result."""
    facts = [await functions.call(call) for call in result.calls]
    asked = ChatMessage("assistant", (TextPart(result.text),), tool_calls=result.calls)
    answers = [
        ChatMessage("tool", (TextPart(fact.text),), tool_call_id=call.id)
        for call, fact in zip(result.calls, facts, strict=True)
    ]
    messages = (*request.messages, asked, *answers)
    return replace(request, messages=messages, request_id=new_request_id()), facts


async def _close(chunks: object) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
