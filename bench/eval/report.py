"""Print and write the evaluation results (bench/eval/RESULTS.md): each shop, and the worst
shop's figures (the minimum across shops) against the targets."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.eval.runner import CaseResult, Summary

# Targets on the WORST shop.
TARGETS = {
    "resolution": 0.70,
    "wrong": 0.02,
    "handoff_recall": 1.0,
    "answerable_handoff": 0.15,
    "p95_s": 5.0,
}


@dataclass(frozen=True, slots=True)
class ShopRun:
    """One shop's results (development cases, and the sealed holdout when it was run)."""

    name: str
    summary: Summary
    holdout: Summary | None = None


def machine() -> str:
    """CPU model, core count, Python and torch versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        accel = f"torch {torch.__version__}, CUDA {'available' if torch.cuda.is_available() else 'not available'}"
    except ImportError:  # pragma: no cover
        accel = "torch not installed"
    return f"{cpu}, {os.cpu_count()} cores visible, Python {platform.python_version()}, {accel}"


def _short(text: str, limit: int = 110) -> str:
    flat = " ".join(text.split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def case_line(result: CaseResult) -> str:
    mark = "ok " if result.ok else ("WRONG" if result.wrong else "miss")
    detail = result.answer if result.outcome == "answer" else "; ".join(result.reasons)
    extra = []
    if result.missing and result.case.answerable and result.outcome == "answer":
        extra.append(f"missing {list(result.missing)}")
    if result.forbidden:
        extra.append(f"forbidden {list(result.forbidden)}")
    if result.ungrounded:
        extra.append(f"ungrounded {list(result.ungrounded)}")
    tail = f"  [{', '.join(extra)}]" if extra else ""
    return f"{mark:5} {result.case.id:32} {result.seconds:5.1f}s {result.outcome:7} {result.path:13} {_short(detail, 90)}{tail}"


def summary_lines(summary: Summary) -> list[str]:
    s = summary
    n, a, h = len(s.results), len(s.answerable), len(s.must_handoff)
    wrong = [r for r in s.results if r.wrong]
    return [
        f"cases: {n} ({a} answerable, {h} must hand off, {sum(1 for r in s.results if r.case.image)} with a photo)",
        f"resolution rate: {s.resolution:.1%} of answerable ({sum(r.resolved for r in s.answerable)}/{a}); target >= {TARGETS['resolution']:.0%}",
        f"wrong-answer rate: {s.wrong_rate:.1%} of all cases ({len(wrong)}/{n}); target <= {TARGETS['wrong']:.0%}",
        f"handoff recall: {s.handoff_recall:.1%} of must-handoff ({sum(r.handed_off for r in s.must_handoff)}/{h}); target >= {TARGETS['handoff_recall']:.0%}",
        f"handoff rate on answerable cases: {s.answerable_handoff_rate:.1%} ({sum(r.handed_off for r in s.answerable)}/{a}); target <= {TARGETS['answerable_handoff']:.0%}",
        f"time to reply: p95 {s.p95_seconds:.2f} s, max {max((r.seconds for r in s.results), default=0):.2f} s; target p95 <= {TARGETS['p95_s']:g} s",
        f"retrieval recall@3: {s.recall_at_3:.1%} over {s.recall_cases} cases with relevant_sources",
        f"answer paths: {', '.join(f'{k} {v}' for k, v in sorted(s.paths.items()))}",
        f"wall time: {s.wall_s:.1f} s for all cases (concurrent)",
    ]


def _status(value: float, target: float, higher_is_better: bool) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "MISSED"


def case_table(summary: Summary) -> list[str]:
    """The per-case Markdown table."""
    table = [
        "| case | expected | outcome | path | ok | answer / reasons |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary.results:
        expected = "handoff" if r.case.must_handoff else ", ".join(r.case.expect_facts)
        detail = r.answer if r.outcome == "answer" else "; ".join(r.reasons)
        if r.path == "model-handoff":
            detail = f"{'; '.join(r.reasons)} — unsent answer: {r.answer}"
        mark = "✅" if r.ok else ("❌ wrong" if r.wrong else "❌")
        table.append(
            f"| {r.case.id} | {_short(expected, 40)} | {r.outcome} | {r.path} | {mark} | {_short(detail, 160)} |"
        )
    return table


def metrics_table(s: Summary) -> list[str]:
    t = TARGETS
    return [
        "| metric | value | target | status |",
        "|---|---|---|---|",
        f"| resolution rate (answerable) | {s.resolution:.1%} | ≥ {t['resolution']:.0%} | {_status(s.resolution, t['resolution'], True)} |",
        f"| wrong-answer rate (all cases) | {s.wrong_rate:.1%} | ≤ {t['wrong']:.0%} | {_status(s.wrong_rate, t['wrong'], False)} |",
        f"| handoff recall (must-handoff) | {s.handoff_recall:.1%} | ≥ {t['handoff_recall']:.0%} | {_status(s.handoff_recall, t['handoff_recall'], True)} |",
        f"| answerable cases handed off | {s.answerable_handoff_rate:.1%} | ≤ {t['answerable_handoff']:.0%} | {_status(s.answerable_handoff_rate, t['answerable_handoff'], False)} |",
        f"| p95 time to reply | {s.p95_seconds:.2f} s | ≤ {t['p95_s']:g} s | {_status(s.p95_seconds, t['p95_s'], False)} |",
        f"| retrieval recall@3 | {s.recall_at_3:.1%} ({s.recall_cases} cases) | | |",
    ]


def overview_table(runs: Sequence[ShopRun], holdout: bool = False) -> list[str]:
    """One row per shop, then the worst value of each metric across the shops."""
    parts = [(r.name, r.holdout if holdout else r.summary) for r in runs]
    rows = [(name, s) for name, s in parts if s is not None]
    table = [
        "| shop | cases | resolution | wrong answers | handoff recall | answerable handed off | p95 time to reply |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in rows:
        table.append(
            f"| {name} | {len(s.results)} | {s.resolution:.1%} | {s.wrong_rate:.1%} | {s.handoff_recall:.1%} | {s.answerable_handoff_rate:.1%} | {s.p95_seconds:.2f} s |"
        )
    if rows:
        summaries = [s for _, s in rows]
        worst = (
            min(s.resolution for s in summaries),
            max(s.wrong_rate for s in summaries),
            min(s.handoff_recall for s in summaries),
            max(s.answerable_handoff_rate for s in summaries),
            max(s.p95_seconds for s in summaries),
        )
        t = TARGETS
        marks = (
            _status(worst[0], t["resolution"], True),
            _status(worst[1], t["wrong"], False),
            _status(worst[2], t["handoff_recall"], True),
            _status(worst[3], t["answerable_handoff"], False),
            _status(worst[4], t["p95_s"], False),
        )
        table.append(
            f"| **worst shop** | | **{worst[0]:.1%}** ({marks[0]}) | **{worst[1]:.1%}** ({marks[1]}) | **{worst[2]:.1%}** ({marks[2]}) | **{worst[3]:.1%}** ({marks[3]}) | **{worst[4]:.2f} s** ({marks[4]}) |"
        )
        table.append(
            f"| target | | ≥ {t['resolution']:.0%} | ≤ {t['wrong']:.0%} | {t['handoff_recall']:.0%} | ≤ {t['answerable_handoff']:.0%} | ≤ {t['p95_s']:g} s |"
        )
    return table


DEFINITIONS = [
    "Definitions: *resolved* = an answerable case answered (not handed off) containing every expected fact and no",
    "forbidden one. *Wrong* = an answer that was sent (not handed off) and contains a forbidden fact or an ungrounded",
    "price, date, order number, tracking number or specification. *Handoff recall* = must-handoff cases handed off. Paths: *tool* =",
    "templated answer from order/price/stock/promotion tools; *quote* = FAQ or policy text quoted; *fixed* =",
    "greeting; *model* = the model's answer was sent; *model-handoff* = the model answered but the assessment",
    "handed off; *model-stopped* = the draft was stopped (deadline, or it could no longer pass) and handed off;",
    "*handoff* = handed off before the model. *Time to reply* = from the turn to the answer or the handoff",
    "notice (prepare, OCR, model draft and assessment), with the stated concurrency.",
]


def write_markdown(
    runs: Sequence[ShopRun], path: Path, command: str, engine: str, notes: list[str]
) -> None:
    """Write RESULTS.md: how it was run, the worst shop against the targets, each shop, every case."""
    body = [
        "# Shop bot evaluation",
        "",
        f"Command: `{command}`  ",
        f"Engine: {engine}  ",
        f"Machine: {machine()}  ",
        "Each shop is evaluated as of the date in its cases file.",
        "",
        "## All shops (development cases)",
        "",
        *overview_table(runs),
        "",
    ]
    if any(r.holdout is not None for r in runs):
        body += [
            "## All shops (sealed holdout cases, run once)",
            "",
            *overview_table(runs, holdout=True),
            "",
        ]
    body += [*DEFINITIONS, "", *notes, ""]
    for run in runs:
        s = run.summary
        body += [
            f"## {run.name}",
            "",
            *metrics_table(s),
            "",
            *(f"- {line}" for line in summary_lines(s)),
            "",
            *case_table(s),
            "",
        ]
        if run.holdout is not None:
            body += [
                f"### {run.name}: holdout",
                "",
                *metrics_table(run.holdout),
                "",
                *(f"- {line}" for line in summary_lines(run.holdout)),
                "",
                *case_table(run.holdout),
                "",
            ]
    path.write_text("\n".join(body), encoding="utf-8")
