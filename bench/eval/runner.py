"""Run evaluation cases through the real brain and engine, and score them.

Per case: ``brain.prepare`` → (unless it hands off or answers directly) the model draft
under the worker's time budget and early stop (:func:`core.answering.draft.write_draft`) →
``brain.assess``, exactly the worker's sequence. ``concurrency`` cases run at a time (the
batching engine decodes their model drafts together); each case's time to reply is the
time from its start to the answer or the handoff notice.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bench.eval.cases import Case
from core.answering.bot import BotBrain, Prepared, TurnContext
from core.answering.confidence import score_logprobs
from core.answering.draft import DraftBudget, write_draft
from core.engines.base import Engine, GenerationRequest
from core.knowledge.grounding import Evidence, check_grounding
from core.knowledge.retrieval import Retriever

CRITICAL = frozenset({"price", "order_number", "tracking", "date", "spec"})
TOOL_PREFIXES = ("order:", "price:", "stock:", "promo:")


def fold(text: str) -> str:
    """Comparison form: NFKC, lower case, no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


@dataclass(frozen=True)
class CaseResult:
    """What happened to one case."""

    case: Case
    outcome: str  # "answer" or "handoff"
    path: str  # tool, quote, fixed, model, handoff (before the model), model-handoff
    answer: str
    reasons: tuple[str, ...] = ()
    confidence: float | None = None
    missing: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    ungrounded: tuple[str, ...] = ()
    top3: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def handed_off(self) -> bool:
        return self.outcome == "handoff"

    @property
    def resolved(self) -> bool:
        return (
            self.case.answerable and not self.handed_off and not self.missing and not self.forbidden
        )

    @property
    def wrong(self) -> bool:
        return not self.handed_off and bool(self.forbidden or self.ungrounded)

    @property
    def recall_at_3(self) -> float | None:
        wanted = self.case.relevant_sources
        if not wanted:
            return None
        return sum(s in self.top3 for s in wanted) / len(wanted)

    @property
    def ok(self) -> bool:
        return self.handed_off if self.case.must_handoff else self.resolved


@dataclass
class Summary:
    results: list[CaseResult]
    wall_s: float
    paths: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.results:
            self.paths[r.path] = self.paths.get(r.path, 0) + 1

    @property
    def p95_seconds(self) -> float:
        """95th percentile of the time to reply (nearest rank)."""
        times = sorted(r.seconds for r in self.results)
        if not times:
            return 0.0
        return times[min(len(times) - 1, max(0, -(-95 * len(times) // 100) - 1))]

    @property
    def answerable(self) -> list[CaseResult]:
        return [r for r in self.results if r.case.answerable]

    @property
    def must_handoff(self) -> list[CaseResult]:
        return [r for r in self.results if r.case.must_handoff]

    def rate(self, part: Sequence[CaseResult], whole: Sequence[CaseResult]) -> float:
        return len(part) / len(whole) if whole else 0.0

    @property
    def resolution(self) -> float:
        return self.rate([r for r in self.answerable if r.resolved], self.answerable)

    @property
    def wrong_rate(self) -> float:
        return self.rate([r for r in self.results if r.wrong], self.results)

    @property
    def handoff_recall(self) -> float:
        return self.rate([r for r in self.must_handoff if r.handed_off], self.must_handoff)

    @property
    def answerable_handoff_rate(self) -> float:
        return self.rate([r for r in self.answerable if r.handed_off], self.answerable)

    @property
    def recall_at_3(self) -> float:
        values = [r.recall_at_3 for r in self.results if r.recall_at_3 is not None]
        return sum(values) / len(values) if values else 0.0

    @property
    def recall_cases(self) -> int:
        return sum(r.recall_at_3 is not None for r in self.results)


def _path(prepared: Prepared) -> str:
    sources = [f.source for f in prepared.facts if f.source != "conversation"]
    if not sources:
        return "fixed"
    return "tool" if sources[0].startswith(TOOL_PREFIXES) else "quote"


@dataclass(frozen=True)
class Checks:
    missing: tuple[str, ...]
    forbidden: tuple[str, ...]
    ungrounded: tuple[str, ...]


def _check(case: Case, answer: str, prepared: Prepared, handed_off: bool) -> Checks:
    folded = fold(answer)
    missing = tuple(f for f in case.expect_facts if fold(f) not in folded)
    forbidden = tuple(f for f in case.forbid if fold(f) in folded)
    report = check_grounding(answer, Evidence(f.text for f in prepared.facts))
    ungrounded = tuple(f"{c.kind} {c.text}" for c in report.ungrounded if c.kind in CRITICAL)
    return Checks(case.expect_facts if handed_off else missing, forbidden, ungrounded)


async def run_case(
    case: Case,
    brain: BotBrain,
    engine: Engine,
    retriever: Retriever,
    max_new_tokens: int,
    budget: DraftBudget | None = None,
) -> CaseResult:
    """Run one case the way the worker would, and score it."""
    started = time.perf_counter()
    turn = case.turn()
    prepared = await brain.prepare(turn, TurnContext(tuple(case.history_items())))
    query = turn.text or prepared.ocr_text
    top3 = tuple(h.document.source for h in retriever.search(query, 3)) if query else ()

    def result(
        outcome: str,
        path: str,
        answer: str,
        reasons: tuple[str, ...],
        confidence: float | None,
        checks: Checks,
    ) -> CaseResult:
        return CaseResult(
            case, outcome, path, answer, reasons, confidence, checks.missing, checks.forbidden,
            checks.ungrounded, top3, time.perf_counter() - started,
        )  # fmt: skip

    if prepared.handoff is not None:
        reasons = (prepared.handoff.kind, *prepared.handoff.reasons)
        return result("handoff", "handoff", "", reasons, None, Checks(case.expect_facts, (), ()))
    if prepared.direct_reply is not None:
        checks = _check(case, prepared.direct_reply, prepared, False)
        return result("answer", _path(prepared), prepared.direct_reply, (), 1.0, checks)
    request = GenerationRequest(prepared.messages, max_new_tokens=max_new_tokens, temperature=0.0)
    draft = await write_draft(
        engine, request, budget or DraftBudget(), prepared.guard, None, prepared.functions
    )
    answer = draft.text
    prepared = replace(prepared, facts=(*prepared.facts, *draft.facts))
    if draft.stopped is not None:
        checks = _check(case, answer, prepared, True)
        return result("handoff", "model-stopped", answer, (draft.stopped,), None, checks)
    assessment = brain.assess(turn, prepared, answer, score_logprobs(draft.logprobs))
    handoff = assessment.handoff
    checks = _check(case, answer, prepared, handoff is not None)
    if handoff is not None:
        reasons = (handoff.kind, *handoff.reasons)
        return result(
            "handoff", "model-handoff", answer, reasons, assessment.confidence.score, checks
        )
    return result(
        "answer",
        "model",
        answer,
        assessment.confidence.reasons,
        assessment.confidence.score,
        checks,
    )


async def run_all(
    cases: Sequence[Case],
    brain: BotBrain,
    engine: Engine,
    retriever: Retriever,
    max_new_tokens: int = 96,
    budget: DraftBudget | None = None,
    concurrency: int = 64,
) -> Summary:
    """Run the cases, ``concurrency`` at a time (the engine batches the model cases)."""
    started = time.perf_counter()
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(case: Case) -> CaseResult:
        async with gate:
            return await run_case(case, brain, engine, retriever, max_new_tokens, budget)

    results = await asyncio.gather(*(one(c) for c in cases))
    return Summary(list(results), time.perf_counter() - started)
