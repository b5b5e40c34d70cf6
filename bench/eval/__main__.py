"""``python -m bench.eval``: run the shop evaluation on every shop and write bench/eval/RESULTS.md.

Options:
    --engine settings   the configured engine (default: embedded SmolLM2 on CPU, OCR-wrapped)
    --engine stub       an instant echo engine (checks the tools/handoff paths only)
    --shops NAME ...    some shops (demo, electronics, food, ...); default all
    --only ID [ID ...]  run some cases
    --holdout           also run each shop's sealed holdout.yaml (the final measurement only)
    --concurrency N     cases in flight at once (time to reply is measured per case)
    --deadline S        the model path's time budget (as the worker's draft budget)
    --no-write          print only
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from bench.eval.cases import Case
from bench.eval.report import ShopRun, case_line, overview_table, summary_lines, write_markdown
from bench.eval.runner import Summary, run_all
from bench.eval.shops import EvalShop, pick_shops
from bots.shop.brain import build_brain
from core.answering.draft import DraftBudget
from core.engines.base import Engine
from core.media.ocr import OcrReader

RESULTS = Path(__file__).with_name("RESULTS.md")
NOTES_FILE = Path(__file__).with_name("notes.md")  # analysis appended to RESULTS.md


def build_eval_engine(kind: str, max_batch_size: int, ocr: OcrReader) -> tuple[Engine, str]:
    if kind == "stub":
        from core.engines.stub import StubEngine

        return StubEngine(), "StubEngine (echo; no model)"
    from core.engines.factory import build_engine
    from main import engine_options, load_settings

    engine_settings = engine_options(load_settings(), max_batch_size=max_batch_size)
    engine = build_engine(
        engine_settings,
        ocr=ocr,
        progress=lambda m: print(f"[engine] {m}", file=sys.stderr),
    )
    description = f"{engine_settings.kind} model={engine_settings.model} device={engine_settings.device} dtype={engine_settings.dtype} max_batch_size={max_batch_size} (OCR-wrapped when text-only)"
    return engine, description


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--engine", choices=("settings", "stub"), default="settings")
    parser.add_argument("--shops", nargs="*", default=None)
    parser.add_argument("--holdout", action="store_true", help="also run the sealed holdouts")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=DraftBudget().deadline_s)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


async def run_shop(
    shop: EvalShop, engine: Engine, ocr: OcrReader, args: argparse.Namespace
) -> ShopRun:
    """One shop's development cases (and holdout when asked), through its own brain."""
    case_file = shop.cases()
    brain = build_brain(
        clock=lambda: case_file.date, ocr=ocr, knowledge_dir=shop.knowledge_dir(case_file)
    )
    retriever = brain.holder.current.retriever
    budget = DraftBudget(deadline_s=args.deadline)

    async def run(cases: list[Case]) -> Summary:
        return await run_all(
            cases, brain, engine, retriever, args.max_new_tokens, budget, args.concurrency
        )

    cases = [c for c in case_file.cases if not args.only or c.id in args.only]
    summary = await run(cases)
    holdout = None
    if args.holdout and not args.only:
        sealed = shop.cases(holdout=True)
        holdout = await run(list(sealed.cases))
    return ShopRun(shop.name, summary, holdout)


def _print(runs: list[ShopRun]) -> None:
    for run in runs:
        for title, part in ((run.name, run.summary), (f"{run.name} holdout", run.holdout)):
            if part is None:
                continue
            print(f"== {title} ==")
            for result in part.results:
                print(case_line(result))
            print()
            for line in summary_lines(part):
                print(line)
            print()
    for line in overview_table(runs):
        print(line)
    if any(r.holdout for r in runs):
        print()
        for line in overview_table(runs, holdout=True):
            print(line)


async def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    logging.basicConfig(level=logging.WARNING)
    shops = pick_shops(args.shops)
    ocr = OcrReader()
    engine, description = build_eval_engine(args.engine, args.max_batch_size, ocr)
    started = time.perf_counter()
    await engine.start()
    load_s = time.perf_counter() - started
    runs: list[ShopRun] = []
    try:
        for shop in shops:
            runs.append(await run_shop(shop, engine, ocr, args))
    finally:
        await engine.stop()
    _print(runs)
    print(f"engine load: {load_s:.1f} s")
    if not args.no_write and not args.only:
        command = "python -m bench.eval " + " ".join(sys.argv[1:] if argv is None else argv)
        notes = [
            f"Engine start-up (load) took {load_s:.1f} s, not included in the times.",
            f"Concurrency {args.concurrency}, model deadline {args.deadline:g} s, max new tokens {args.max_new_tokens}.",
        ]
        if NOTES_FILE.exists():
            notes += ["", NOTES_FILE.read_text(encoding="utf-8").strip()]
        write_markdown(runs, args.out, command.strip(), description, notes)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
