"""Print and write the evaluation results (bench/eval/RESULTS.md)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from bench.eval.runner import CaseResult, Summary

TARGETS = {"wrong": 0.02, "resolution": 0.60, "handoff_recall": 0.95}


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
    return f"{mark:5} {result.case.id:32} {result.outcome:7} {result.path:13} {_short(detail, 90)}{tail}"


def summary_lines(summary: Summary) -> list[str]:
    s = summary
    n, a, h = len(s.results), len(s.answerable), len(s.must_handoff)
    wrong = [r for r in s.results if r.wrong]
    return [
        f"cases: {n} ({a} answerable, {h} must hand off, {sum(1 for r in s.results if r.case.image)} with a photo)",
        f"resolution rate: {s.resolution:.1%} of answerable ({sum(r.resolved for r in s.answerable)}/{a}); target >= {TARGETS['resolution']:.0%}",
        f"wrong-answer rate: {s.wrong_rate:.1%} of all cases ({len(wrong)}/{n}); target <= {TARGETS['wrong']:.0%}",
        f"handoff recall: {s.handoff_recall:.1%} of must-handoff ({sum(r.handed_off for r in s.must_handoff)}/{h}); target >= {TARGETS['handoff_recall']:.0%}",
        f"handoff rate on answerable cases: {s.answerable_handoff_rate:.1%} ({sum(r.handed_off for r in s.answerable)}/{a})",
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
    return [
        "| metric | value | target | status |",
        "|---|---|---|---|",
        f"| resolution rate (answerable) | {s.resolution:.1%} | ≥ 60% | {_status(s.resolution, 0.60, True)} |",
        f"| wrong-answer rate (all cases) | {s.wrong_rate:.1%} | ≤ 2% | {_status(s.wrong_rate, 0.02, False)} |",
        f"| handoff recall (must-handoff) | {s.handoff_recall:.1%} | ≥ 95% | {_status(s.handoff_recall, 0.95, True)} |",
        f"| handoff rate on answerable | {s.answerable_handoff_rate:.1%} | (lower is better) | |",
        f"| retrieval recall@3 | {s.recall_at_3:.1%} ({s.recall_cases} cases) | | |",
    ]


DEFINITIONS = [
    "Definitions: *resolved* = an answerable case answered (not handed off) containing every expected fact and no",
    "forbidden one. *Wrong* = an answer that was sent (not handed off) and contains a forbidden fact or an ungrounded",
    "price, date, order number or tracking number. *Handoff recall* = must-handoff cases handed off. Paths: *tool* =",
    "templated answer from order/price/stock/promotion tools; *quote* = FAQ or policy text quoted; *fixed* =",
    "greeting; *model* = the model's answer was sent; *model-handoff* = the model answered but the assessment",
    "handed off; *handoff* = handed off before the model.",
]


def write_markdown(
    summary: Summary,
    path: Path,
    command: str,
    engine: str,
    notes: list[str],
    holdout: Summary | None = None,
) -> None:
    """Write RESULTS.md: how it was run, the metrics against the targets, every case."""
    s = summary
    body = [
        "# Shop bot evaluation",
        "",
        f"Command: `{command}`  ",
        f"Engine: {engine}  ",
        f"Machine: {machine()}  ",
        f"Cases: bench/eval/cases.yaml ({len(s.results)} cases, {sum(1 for r in s.results if r.case.image)} with a photo), evaluated as of the date in the file.",
        "",
        "## Results",
        "",
        *metrics_table(s),
        "",
        *(f"- {line}" for line in summary_lines(s)),
        "",
        *DEFINITIONS,
        "",
        *notes,
        "",
    ]
    if holdout is not None:
        body += [
            "## Held-out cases (bench/eval/holdout.yaml)",
            "",
            "Written after the main set had been used for tuning and never tuned on: a fairer view of",
            "how the bot handles phrasings nobody prepared it for.",
            "",
            *metrics_table(holdout),
            "",
            *(f"- {line}" for line in summary_lines(holdout)),
            "",
        ]
    body += ["## Cases", "", *case_table(s), ""]
    if holdout is not None:
        body += ["## Held-out cases, one by one", "", *case_table(holdout), ""]
    path.write_text("\n".join(body), encoding="utf-8")
