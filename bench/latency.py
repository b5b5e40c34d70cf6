"""Time to first token, warm start to ready, and memory while serving (embedded SmolLM2-135M).

* TTFT: a short customer question behind the ~300-token shop system prompt, idle engine,
  with the prefix KV cache (normal) and without it (``prefix_cache_size=0``), and while 8
  other chats are decoding.
* Warm start: a fresh Python process imports kefu, starts the engine from the dequantised
  cache and reports ready (run once with a cold cache first, which the script does).
* RSS: a fresh process serves 16 concurrent chats; resident memory is sampled every 50 ms.

Run:
    .venv/bin/python -m bench.latency                    # all sections, fp32 and bf16
    .venv/bin/python -m bench.latency --section ttft --dtype bfloat16 --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

from bench._common import (
    QUESTIONS,
    SHOP_SYSTEM_PROMPT,
    median,
    percentile,
    print_header,
    rss_mb,
    table,
)
from core.engines.base import ChatMessage, GenerationRequest, collect
from core.engines.options import EngineOptions
from core.engines.transformers_engine import TransformersEngine

SHORT_QUESTIONS = [q for q in QUESTIONS if len(q) < 45]


def request_for(question: str, max_new_tokens: int = 32) -> GenerationRequest:
    messages = (ChatMessage.text("system", SHOP_SYSTEM_PROMPT), ChatMessage.text("user", question))
    return GenerationRequest(messages, max_new_tokens=max_new_tokens)


async def first_token_seconds(engine: TransformersEngine, question: str) -> float:
    started = time.perf_counter()
    stream = engine.generate(request_for(question))
    try:
        async for chunk in stream:
            if chunk.text or chunk.logprobs:
                return time.perf_counter() - started
    finally:
        await stream.aclose()
    return float("nan")


async def ttft_series(engine: TransformersEngine, samples: int) -> list[float]:
    await first_token_seconds(engine, SHORT_QUESTIONS[0])  # warm-up (fills the prefix cache)
    return [
        await first_token_seconds(engine, SHORT_QUESTIONS[i % len(SHORT_QUESTIONS)])
        for i in range(samples)
    ]


async def ttft_under_load(engine: TransformersEngine, samples: int, background: int) -> list[float]:
    stop = asyncio.Event()

    async def chatter(index: int) -> None:
        while not stop.is_set():
            await collect(engine.generate(request_for(QUESTIONS[index % len(QUESTIONS)], 64)))

    tasks = [asyncio.create_task(chatter(i)) for i in range(background)]
    await asyncio.sleep(2.0)
    try:
        return [
            await first_token_seconds(engine, SHORT_QUESTIONS[i % len(SHORT_QUESTIONS)])
            for i in range(samples)
        ]
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def bench_ttft(args: argparse.Namespace, dtype: str) -> list[list[object]]:
    rows: list[list[object]] = []
    for label, prefix_cache in (("idle, prefix KV cache", 4), ("idle, no prefix cache", 0)):
        settings = EngineOptions(dtype=dtype, threads=args.threads, cache_dir=args.cache_dir)
        engine = TransformersEngine(settings, prefix_cache_size=prefix_cache)
        await engine.start()
        try:
            values = await ttft_series(engine, args.samples)
            rows.append(
                [dtype, label, len(values), median(values) * 1000, percentile(values, 90) * 1000]
            )
            print(f"  {dtype} {label}: p50 {median(values) * 1000:.0f} ms", flush=True)
            if prefix_cache:
                loaded = await ttft_under_load(engine, max(5, args.samples // 2), 8)
                rows.append(
                    [
                        dtype,
                        "8 chats decoding",
                        len(loaded),
                        median(loaded) * 1000,
                        percentile(loaded, 90) * 1000,
                    ]
                )
        finally:
            await engine.stop()
    return rows


START_SNIPPET = """
import asyncio, json, sys, time
from core.engines.options import EngineOptions
from core.engines.transformers_engine import TransformersEngine
settings = EngineOptions(dtype=sys.argv[1], cache_dir=sys.argv[2])
engine = TransformersEngine(settings)
asyncio.run(engine.start())
print(json.dumps({"ready": time.time()}))
"""


def bench_start(args: argparse.Namespace, dtype: str) -> list[list[object]]:
    """Process spawn to engine ready, in fresh interpreters (the first run may be cold)."""
    runs = []
    for _ in range(args.start_runs + 1):
        spawned = time.time()
        out = subprocess.run(
            [sys.executable, "-c", START_SNIPPET, dtype, args.cache_dir],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        ready = json.loads(out.strip().splitlines()[-1])["ready"]
        runs.append(ready - spawned)
    cold, warm = runs[0], runs[1:]
    return [
        [dtype, "first run (cold if no cache yet)", 1, cold, cold],
        [dtype, "warm start to ready", len(warm), median(warm), max(warm)],
    ]


RSS_SNIPPET = """
import asyncio, json, sys, threading, time
from bench._common import rss_mb
from bench.throughput import run_chats
from core.engines.options import EngineOptions
from core.engines.transformers_engine import TransformersEngine
samples = []
def sample():
    while True:
        samples.append(rss_mb()[0]); time.sleep(0.05)
async def main():
    engine = TransformersEngine(EngineOptions(dtype=sys.argv[1], cache_dir=sys.argv[2], threads=int(sys.argv[3]) or None))
    await engine.start()
    after_load = rss_mb()[0]
    threading.Thread(target=sample, daemon=True).start()
    await run_chats(engine, 16, 2, 64)
    print(json.dumps({"after_load": after_load, "serving_max": max(samples), "peak": rss_mb()[1]}))
asyncio.run(main())
"""


def bench_rss(args: argparse.Namespace, dtype: str) -> list[list[object]]:
    out = subprocess.run(
        [sys.executable, "-c", RSS_SNIPPET, dtype, args.cache_dir, str(args.threads or 0)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return [[dtype, data["after_load"], data["serving_max"], data["peak"]]]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--section", default="ttft,start,rss")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "both"], default="both")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--start-runs", type=int, default=3)
    parser.add_argument("--cache-dir", default=".kefu/models")
    args = parser.parse_args()
    sections = set(args.section.split(","))
    dtypes = ["float32", "bfloat16"] if args.dtype == "both" else [args.dtype]
    print_header("kefu engine latency, start-up and memory (embedded SmolLM2-135M)")
    if "ttft" in sections:
        rows = [row for d in dtypes for row in await bench_ttft(args, d)]
        print(
            "\nTime to first token (ms)\n"
            + table(["dtype", "case", "samples", "p50 ms", "p90 ms"], rows)
        )
    if "start" in sections:
        rows = [row for d in dtypes for row in bench_start(args, d)]
        print(
            "\nStart-up (s, spawn to ready)\n"
            + table(["dtype", "case", "runs", "median s", "max s"], rows)
        )
    if "rss" in sections:
        rows = [row for d in dtypes for row in bench_rss(args, d)]
        headers = ["dtype", "RSS after load MB", "max RSS serving 16 chats MB", "peak (VmHWM) MB"]
        print("\nMemory\n" + table(headers, rows))
    print(f"\nthis process: peak RSS {rss_mb()[1]:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
