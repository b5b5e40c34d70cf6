"""Throughput of the local engine at 1, 4, 8 and 16 concurrent chats vs sequential ``generate``.

Every chat sends ``--rounds`` customer questions one after another (behind the ~300-token
shop system prompt), so later questions join a batch that is already decoding. The
baseline is transformers' ``model.generate`` on the same model, same dtype, same thread
count, one question at a time (run on the engine thread).

Run:
    .venv/bin/python -m bench.throughput                       # fp32 and bf16, 1/4/8/16 chats
    .venv/bin/python -m bench.throughput --dtype bfloat16 --threads 2 --chats 16
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools

from bench._common import QUESTIONS, SHOP_SYSTEM_PROMPT, Stopwatch, print_header, rss_mb, table
from core.engines.base import ChatMessage, GenerationRequest, collect
from core.engines.options import EngineOptions
from core.engines.transformers_engine import TransformersEngine, prepare_prompt


def request_for(question: str, max_new_tokens: int) -> GenerationRequest:
    messages = (ChatMessage.text("system", SHOP_SYSTEM_PROMPT), ChatMessage.text("user", question))
    return GenerationRequest(messages, max_new_tokens=max_new_tokens)


async def run_chats(
    engine: TransformersEngine, chats: int, rounds: int, max_new_tokens: int
) -> tuple[int, float]:
    """``chats`` concurrent customers, each asking ``rounds`` questions in turn; (tokens, seconds)."""
    questions = itertools.cycle(QUESTIONS)
    plans = [[next(questions) for _ in range(rounds)] for _ in range(chats)]

    async def customer(plan: list[str]) -> int:
        total = 0
        for question in plan:
            _, _, final = await collect(engine.generate(request_for(question, max_new_tokens)))
            total += final.usage.completion_tokens
        return total

    with Stopwatch() as watch:
        tokens = sum(await asyncio.gather(*(customer(plan) for plan in plans)))
    return tokens, watch.seconds


async def sequential_generate(
    engine: TransformersEngine, count: int, max_new_tokens: int
) -> tuple[int, float]:
    """transformers ``generate`` one question at a time, on the engine thread; (tokens, seconds)."""
    scheduler = engine.scheduler
    assert scheduler is not None and engine._loaded is not None
    tokenizer, model = engine._loaded.tokenizer, engine._loaded.model
    eos = sorted(scheduler.eos_ids)

    def run() -> tuple[int, float]:
        import torch

        config = copy.deepcopy(model.generation_config)
        config.do_sample, config.eos_token_id = False, eos
        tokens = 0
        with Stopwatch() as watch:
            for question in itertools.islice(itertools.cycle(QUESTIONS), count):
                prompt = prepare_prompt(tokenizer, request_for(question, 1).messages, None)
                ids = torch.tensor([prompt.ids])
                out = model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    generation_config=config,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=eos[0],
                )
                tokens += out.shape[1] - ids.shape[1]
        return tokens, watch.seconds

    return await scheduler.call(run)


async def bench_dtype(args: argparse.Namespace, dtype: str) -> list[list[object]]:
    settings = EngineOptions(
        dtype=dtype, threads=args.threads, cache_dir=args.cache_dir, max_batch_size=max(args.chats)
    )
    engine = TransformersEngine(settings)
    await engine.start()
    try:
        await run_chats(engine, 2, 1, 8)  # warm-up: prefix cache, allocator, oneDNN kernels
        seq_tokens, seq_seconds = await sequential_generate(
            engine, args.sequential, args.max_new_tokens
        )
        sequential = seq_tokens / seq_seconds
        rows: list[list[object]] = [
            [
                dtype,
                "sequential generate",
                args.sequential,
                seq_tokens,
                seq_seconds,
                sequential,
                1.0,
                "",
            ]
        ]
        for chats in args.chats:
            tokens, seconds = await run_chats(engine, chats, args.rounds, args.max_new_tokens)
            rate = tokens / seconds
            rows.append(
                [
                    dtype,
                    f"kefu, {chats} chats",
                    chats * args.rounds,
                    tokens,
                    seconds,
                    rate,
                    rate / sequential,
                    f"{rss_mb()[1]:.0f}",
                ]
            )
            print(
                f"  {dtype} {chats:>2} chats: {rate:6.1f} tok/s ({rate / sequential:.1f}x sequential)",
                flush=True,
            )
        return rows
    finally:
        await engine.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "both"], default="both")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: all cores)"
    )
    parser.add_argument(
        "--chats", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8, 16]
    )
    parser.add_argument("--rounds", type=int, default=2, help="questions per chat, asked in turn")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--sequential", type=int, default=6, help="questions for the generate() baseline"
    )
    parser.add_argument("--cache-dir", default=".kefu/models")
    args = parser.parse_args()
    print_header("kefu engine throughput (embedded SmolLM2-135M)")
    dtypes = ["float32", "bfloat16"] if args.dtype == "both" else [args.dtype]
    rows: list[list[object]] = []
    for dtype in dtypes:
        rows += await bench_dtype(args, dtype)
    print()
    headers = [
        "dtype",
        "method",
        "requests",
        "tokens",
        "seconds",
        "tok/s",
        "x sequential",
        "peak RSS MB",
    ]
    print(table(headers, rows))


if __name__ == "__main__":
    asyncio.run(main())
