"""What the model path's time budget and early stop save, on the embedded model.

``python -m bench.draft_budget [--shops demo electronics food] [--max-new-tokens 256]``

Takes every development case (bench/eval) that reaches the model (the brain neither answers
it from code nor hands it off first) and writes its draft twice, one case at a time:

- **unbounded**: decode up to ``--max-new-tokens`` and assess at the end (the old path);
- **budgeted**: :func:`core.answering.draft.write_draft` with the worker's budget (deadline,
  the brain's grounding guard, the unsure-token stop).

Prints, per variant, the p50/p95 time to reply (prepare + draft + assessment), the tokens
decoded per draft and how many drafts ended as a handoff; the times are one customer's
latency on this machine (record its load with the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date

from bench.eval.__main__ import build_eval_engine
from bench.eval.shops import pick_shops
from bots.shop.brain import build_brain
from core.answering.bot import TurnContext
from core.answering.confidence import score_logprobs
from core.answering.draft import DraftBudget, write_draft
from core.engines.base import Engine, GenerationRequest
from core.media.ocr import OcrReader


@dataclass(frozen=True)
class Run:
    seconds: float
    tokens: int
    handed_off: bool


def _day(day: date) -> date:
    return day


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def _one(brain, case, engine: Engine, budget: DraftBudget | None, tokens: int) -> Run | None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    turn = case.turn()
    prepared = await brain.prepare(turn, TurnContext(tuple(case.history_items())))
    if prepared.handoff is not None or prepared.direct_reply is not None:
        return None
    request = GenerationRequest(prepared.messages, max_new_tokens=tokens, temperature=0.0)
    unbounded = DraftBudget(deadline_s=3600, min_mean_probability=0.0)
    draft = await write_draft(
        engine, request, budget or unbounded, prepared.guard if budget else None
    )
    handed_off = draft.stopped is not None
    if not handed_off:
        assessment = brain.assess(turn, prepared, draft.text, score_logprobs(draft.logprobs))
        handed_off = assessment.handoff is not None
    return Run(time.perf_counter() - started, len(draft.logprobs), handed_off)


def _line(name: str, runs: list[Run]) -> str:
    times = [r.seconds for r in runs]
    tokens = [r.tokens for r in runs]
    return (
        f"{name:10} drafts {len(runs):3}  reply p50 {statistics.median(times):5.2f} s  "
        f"p95 {_p(times, 0.95):5.2f} s  max {max(times):5.2f} s  tokens/draft mean "
        f"{statistics.mean(tokens):5.1f} max {max(tokens):3}  handed off {sum(r.handed_off for r in runs)}"
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.draft_budget", description=__doc__)
    parser.add_argument("--shops", nargs="*", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--deadline", type=float, default=DraftBudget().deadline_s)
    args = parser.parse_args(argv)
    ocr = OcrReader()
    engine, description = build_eval_engine("settings", 4, ocr)
    await engine.start()
    print(f"engine: {description}")
    results: dict[str, list[Run]] = {"unbounded": [], "budgeted": []}
    try:
        for shop in pick_shops(args.shops):
            case_file = shop.cases()
            brain = build_brain(
                clock=functools.partial(_day, case_file.date),
                ocr=ocr,
                knowledge_dir=shop.knowledge_dir(case_file),
            )
            for case in case_file.cases:
                for name, budget in (("unbounded", None), ("budgeted", DraftBudget(args.deadline))):
                    run = await _one(brain, case, engine, budget, args.max_new_tokens)
                    if run is not None:
                        results[name].append(run)
    finally:
        await engine.stop()
    for name, runs in results.items():
        print(_line(name, runs) if runs else f"{name}: no case reached the model")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
