"""Shared pieces of the engine benchmarks: the shop prompt, questions, machine facts, tables.

Only the standard library is imported at module level, so the llama.cpp baseline can use
this module from its own virtualenv (which has no torch).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# About 300 tokens with the SmolLM2 tokenizer: what a real shop bot's system prompt looks like.
SHOP_SYSTEM_PROMPT = (
    "You are the customer-service assistant of Acme Shoes, an online shoe shop. Answer in the "
    "customer's language, politely and briefly (at most three sentences). Facts you may use:\n"
    "- Shipping: orders placed before 3 pm ship the same working day. Standard delivery takes 3 to "
    "5 working days and is free above 50 euros, otherwise it costs 4.90 euros. Express delivery takes "
    "1 to 2 working days and costs 9.90 euros. We ship to the EU, the UK, Switzerland and Norway.\n"
    "- Returns: customers may return unworn shoes within 30 days of delivery for a full refund. The "
    "return label is free; refunds reach the original payment method within 5 working days after the "
    "parcel arrives at our warehouse. Sale items can be exchanged but not refunded.\n"
    "- Sizes: our shoes follow EU sizes 35 to 48. Running shoes fit half a size small; we recommend "
    "ordering half a size up. Wide fits are marked W on the product page.\n"
    "- Payment: credit card, PayPal, Klarna invoice (pay within 14 days) and bank transfer.\n"
    "- Warranty: two years against manufacturing defects; send photos of the defect to start a claim.\n"
    "- Order numbers look like SO followed by ten digits. Never invent order details; if the customer "
    "asks about a specific order, ask for the order number and say a colleague will check it.\n"
    "If you do not know the answer, say so and offer to hand the chat to a human colleague."
)

QUESTIONS = (
    "How long does shipping to Germany take?",
    "Can I return shoes I bought on sale?",
    "Do your running shoes fit true to size?",
    "Is there free shipping?",
    "Which payment methods do you accept?",
    "My shoe sole came off after two months. What can I do?",
    "Do you ship to Norway?",
    "How much is express delivery?",
    "When will I get my refund?",
    "Do you have wide fit shoes?",
    "Can I pay by invoice?",
    "What sizes do you have?",
    "Where is my order SO2026001234?",
    "I ordered at 4 pm, when will it ship?",
    "Is the return label free?",
    "Can I exchange shoes for another size?",
    "你们的鞋子尺码标准吗？",
    "退货需要多长时间退款？",
)


def machine_info() -> list[str]:
    """``lscpu | head`` style facts plus Python/torch versions and the current load."""
    lines = [f"python {platform.python_version()} on {platform.system()} {platform.machine()}"]
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        wanted = ("Model name", "CPU(s):", "Thread(s) per core", "Core(s) per socket", "Flags")
        for line in lscpu.splitlines():
            if line.startswith(wanted):
                if line.startswith("Flags"):
                    flags = [
                        f for f in line.split() if f.startswith(("avx512_bf16", "amx", "avx512f"))
                    ]
                    line = "Flags (relevant): " + " ".join(flags)
                lines.append(" ".join(line.split()))
    except (OSError, subprocess.CalledProcessError):
        lines.append(f"cpus: {os.cpu_count()}")
    try:
        import torch

        lines.append(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
    except ImportError:
        pass
    lines.append("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return lines


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc/self/status."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in values:
                values[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
        for r in cells[1:]
    ]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def print_header(title: str) -> None:
    print(f"# {title}")
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    for line in machine_info():
        print("  " + line)
    print()


class Stopwatch:
    """``with Stopwatch() as s: ...; s.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
