"""``python -m bench.eval``: run the shop evaluation and write bench/eval/RESULTS.md.

Options:
    --engine settings   the configured engine (default: embedded SmolLM2 on CPU, OCR-wrapped)
    --engine stub       an instant echo engine (checks the tools/handoff paths only)
    --only ID [ID ...]  run some cases
    --no-write          print only
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from bench.eval.cases import CASES_FILE, load_cases
from bench.eval.report import case_line, summary_lines, write_markdown
from bench.eval.runner import run_all
from bots.shop.brain import build_brain
from core.engines.base import Engine
from core.media.ocr import OcrReader

RESULTS = Path(__file__).with_name("RESULTS.md")
HOLDOUT_FILE = Path(__file__).with_name("holdout.yaml")
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


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--engine", choices=("settings", "stub"), default="settings")
    parser.add_argument("--cases", type=Path, default=CASES_FILE)
    parser.add_argument(
        "--holdout", type=Path, default=HOLDOUT_FILE, help="a second case set, reported separately"
    )
    parser.add_argument("--no-holdout", action="store_true")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    case_file = load_cases(args.cases)
    cases = [c for c in case_file.cases if not args.only or c.id in args.only]
    ocr = OcrReader()
    brain = build_brain(clock=lambda: case_file.date, ocr=ocr)
    engine, description = build_eval_engine(args.engine, args.max_batch_size, ocr)
    started = time.perf_counter()
    await engine.start()
    load_s = time.perf_counter() - started
    holdout_cases = [] if args.no_holdout or args.only else list(load_cases(args.holdout).cases)
    retriever = brain.holder.current.retriever
    try:
        summary = await run_all(cases, brain, engine, retriever, args.max_new_tokens)
        holdout = (
            await run_all(holdout_cases, brain, engine, retriever, args.max_new_tokens)
            if holdout_cases
            else None
        )
    finally:
        await engine.stop()
    for title, part in (("main", summary), ("held-out", holdout)):
        if part is None:
            continue
        print(f"== {title} ==")
        for result in part.results:
            print(case_line(result))
        print()
        for line in summary_lines(part):
            print(line)
        print()
    print(f"engine load: {load_s:.1f} s")
    if not args.no_write and not args.only:
        command = "python -m bench.eval " + " ".join(sys.argv[1:] if argv is None else argv)
        notes = [f"Engine start-up (load) took {load_s:.1f} s, not included in the wall time."]
        if NOTES_FILE.exists():
            notes += ["", NOTES_FILE.read_text(encoding="utf-8").strip()]
        write_markdown(summary, args.out, command.strip(), description, notes, holdout)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
