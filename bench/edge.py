"""Edge figures of issue 12 (findings 1, 3 and 4).

    python -m bench.edge [--rounds 2] [--paths 5000]

1. **A 40 MP PNG to every inbound route** (webhook JSON, Telegram photo, Slack file, ``/v1``
   ``image_url`` data URL), all four at once, ``--rounds`` times, while other senders post
   small signed webhook messages every 20 ms. Reports the other senders' ack latency
   (p50/p99/max; the goal is p99 ≤ 20 ms), the server's RSS growth at its peak and after
   (goal: +≤ 512 MB), and what each heavy request got.
2. **5,000 random paths**: ``/metrics`` (with its token) before and after ``--paths``
   requests to random ``/v1/…`` and other paths (goal: it grows by under 10 KB).
3. **Unsigned big bodies** (finding 4): 16 parallel 29 MB bodies without a valid signature
   (or with a wrong Telegram secret) to each inbound route; the server's RSS growth.

The server (``bench/_edge_server.py``) is a whole kefu in its own process against the
recording fakes; its RSS (with its decoding processes') is read from ``/proc``. The photo is
8000×5000 RGB, ~130 KB as PNG. Part 1 also reports, per phase, where the other senders' acks
spent their time inside the server (``ack_phases_quiet``, ``ack_phases_during_heavy``; see
``bench/_ack_probe.py``). ``--parts`` runs only some parts; ``--decode-in threads`` decodes
on threads inside the server instead of in decoding processes (``images.decode_processes``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from adapters.webhook.signing import parse_secret, signed_headers
from tests.adapters.telegram.conftest import WEBHOOK_SECRET as TG_SECRET
from tests.adapters.webhook.conftest import SECRET
from tests.fakes.slack_server import SlackEventSender, event_callback, message_event
from tests.fakes.telegram_server import UpdateFactory

KEY = parse_secret(SECRET)
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # tests.adapters.slack.conftest
ROUTES = {"webhook", "telegram", "slack", "v1"}
PARTS = ("images", "metrics", "unsigned")
UPDATES = UpdateFactory({"id": 7, "is_bot": True, "first_name": "kefu", "username": "kefu_bot"})


def big_png(width: int = 8000, height: int = 5000) -> bytes:
    image = Image.new("RGB", (width, height), (200, 200, 200))
    for y in range(0, height, 50):
        image.paste((0, 0, 0), (0, y, width, y + 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def rss_mb(pid: int) -> float:
    """The resident memory of ``pid`` and its child processes (the decoding processes)."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(OSError):  # it ended meanwhile
            total += rss_mb(int(child))
    return total


async def webhook_post(session: aiohttp.ClientSession, base: str, body: dict[str, Any]) -> int:
    raw = json.dumps(body).encode()
    headers = {**signed_headers(KEY, f"edge-{uuid.uuid4().hex}", raw),
               "Content-Type": "application/json"}  # fmt: skip
    async with session.post(f"{base}/webhooks/shop", data=raw, headers=headers) as response:
        await response.read()
        return response.status


async def other_senders(
    session: aiohttp.ClientSession, base: str, stop: asyncio.Event
) -> list[float]:
    """A small signed message every 20 ms from a rotating set of customers; ack times."""
    latencies: list[float] = []
    n = 0
    while not stop.is_set():
        n += 1
        body = {"conversation_id": f"other-{n % 40}", "user": {"id": f"u{n % 40}"},
                "text": f"where is my order {n}?"}  # fmt: skip
        started = time.perf_counter()
        status = await webhook_post(session, base, body)
        latencies.append(time.perf_counter() - started)
        assert status == 202, status
        await asyncio.sleep(0.02)
    return latencies


async def heavy_requests(
    session: aiohttp.ClientSession, base: str, ready: dict[str, Any], photo: bytes, n: int
) -> dict[str, int]:
    """The photo to all four routes at once; each route's HTTP status."""
    encoded = base64.b64encode(photo).decode()
    webhook = webhook_post(session, base, {
        "conversation_id": f"heavy-{n}", "user": {"id": "heavy"}, "text": "is this damaged?",
        "images": [{"base64": encoded, "mime": "image/png"}]})  # fmt: skip

    async def telegram() -> int:
        update = UPDATES.photo("big-photo", caption="is this damaged?", chat_id=900 + n)
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        async with session.post(f"{base}/telegram/webhook", json=update, headers=headers) as r:
            await r.read()
            return r.status

    async def slack() -> int:
        event = message_event("D900", "U900", "is this damaged?", f"17000009{n:02d}.000100",
                              files=[ready["slack_file"]])  # fmt: skip
        status, _ = await SlackEventSender(f"{base}/slack/events", SLACK_SECRET).post_event(
            event_callback(event)
        )
        return status

    async def v1() -> int:
        body = {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "is this damaged?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}}]}]}  # fmt: skip
        headers = {"Authorization": "Bearer bench-inference"}
        async with session.post(f"{base}/v1/chat/completions", json=body, headers=headers) as r:
            await r.read()
            return r.status

    chosen = {"webhook": webhook, "telegram": telegram(), "slack": slack(), "v1": v1()}
    for name in [n for n in chosen if n not in ROUTES]:
        chosen.pop(name).close()
    statuses = await asyncio.gather(*chosen.values())
    return dict(zip(chosen, statuses, strict=True))


async def loop_lag(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with session.get(f"{base}/bench/loop-lag") as response:
        return dict(await response.json())


async def ack_phases(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """The server's breakdown of its webhook acks since the last call (``bench/_ack_probe``)."""
    async with session.get(f"{base}/bench/ack-phases") as response:
        return dict(await response.json())


async def sample_rss(pid: int, stop: asyncio.Event, peaks: list[float]) -> None:
    while not stop.is_set():
        peaks.append(rss_mb(pid))
        await asyncio.sleep(0.05)


async def images_part(base: str, ready: dict[str, Any], pid: int, rounds: int) -> dict[str, Any]:
    photo = big_png()
    async with aiohttp.ClientSession() as session:
        for n in range(20):  # warm up: imports, connections, caches
            await webhook_post(session, base, {"conversation_id": "warm", "user": {"id": "w"},
                                               "text": f"hello {n}"})  # fmt: skip
        await asyncio.sleep(1.0)
        await loop_lag(session, base)  # reset
        await ack_phases(session, base)
        quiet_stop = asyncio.Event()
        quiet = [asyncio.create_task(other_senders(session, base, quiet_stop)) for _ in range(2)]
        await asyncio.sleep(5.0)
        quiet_stop.set()
        quiet_acks = sorted(x for result in await asyncio.gather(*quiet) for x in result)
        quiet_lag = await loop_lag(session, base)
        quiet_phases = await ack_phases(session, base)
        baseline = rss_mb(pid)
        stop, peaks = asyncio.Event(), [baseline]
        sampler = asyncio.create_task(sample_rss(pid, stop, peaks))
        senders = [asyncio.create_task(other_senders(session, base, stop)) for _ in range(2)]
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        results = [await heavy_requests(session, base, ready, photo, n) for n in range(rounds)]
        heavy_s = time.perf_counter() - started
        await asyncio.sleep(0.5)
        stop.set()
        latencies = [x for result in await asyncio.gather(*senders) for x in result]
        heavy_lag = await loop_lag(session, base)
        heavy_phases = await ack_phases(session, base)
        await sampler
        await asyncio.sleep(2.0)
        after = rss_mb(pid)
    ordered = sorted(latencies)
    return {
        "photo_bytes": len(photo), "rounds": rounds, "heavy_requests_s": round(heavy_s, 2),
        "statuses": results, "other_acks": len(latencies),
        "ack_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "ack_p99_ms": _p99_ms(ordered), "ack_max_ms": round(ordered[-1] * 1000, 1),
        "loop_lag_during_heavy": heavy_lag, "loop_lag_quiet": quiet_lag,
        "quiet_acks": len(quiet_acks),
        "quiet_ack_p50_ms": round(statistics.median(quiet_acks) * 1000, 1),
        "quiet_ack_p99_ms": _p99_ms(quiet_acks),
        "rss_baseline_mb": round(baseline), "rss_peak_growth_mb": round(max(peaks) - baseline),
        "rss_after_growth_mb": round(after - baseline),
        "ack_phases_quiet": quiet_phases, "ack_phases_during_heavy": heavy_phases,
    }  # fmt: skip


def _p99_ms(ordered: list[float]) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1)


async def metrics_part(base: str, paths: int) -> dict[str, Any]:
    headers = {"Authorization": "Bearer bench-metrics"}
    async with aiohttp.ClientSession() as session:

        async def metrics_size() -> int:
            async with session.get(f"{base}/metrics", headers=headers) as response:
                assert response.status == 200, response.status
                return len(await response.read())

        async def random_get(n: int) -> None:
            prefix = "/v1/conversations/telegram%7C" if n % 2 else f"/{uuid.uuid4().hex}/"
            async with session.get(f"{base}{prefix}{uuid.uuid4().hex}") as response:
                await response.read()

        async with session.get(f"{base}/metrics") as anonymous:
            refused = anonymous.status
        before = await metrics_size()
        for start in range(0, paths, 50):
            await asyncio.gather(*(random_get(n) for n in range(start, min(start + 50, paths))))
        after = await metrics_size()
    return {"paths": paths, "metrics_before_bytes": before, "metrics_after_bytes": after,
            "growth_bytes": after - before, "without_token": refused}  # fmt: skip


async def unsigned_part(base: str, pid: int, parallel: int = 16, mb: int = 29) -> dict[str, Any]:
    """``parallel`` unsigned ``mb`` MB bodies at once to each inbound route (finding 4)."""
    body = b"x" * (mb << 20)
    routes = {"/webhooks/shop": {"Content-Type": "application/json"},
              "/telegram/webhook": {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
              "/slack/events": {"Content-Type": "application/json"}}  # fmt: skip
    baseline, peaks, stop = rss_mb(pid), [rss_mb(pid)], asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, stop, peaks))
    statuses: dict[str, list[str]] = {}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def post(path: str, headers: dict[str, str]) -> str:
            try:
                async with session.post(base + path, data=body, headers=headers) as response:
                    return str(response.status)
            except aiohttp.ClientError as exc:  # the server answered and closed mid-upload
                return type(exc).__name__

        started = time.perf_counter()
        for path, headers in routes.items():
            statuses[path] = sorted(set(await asyncio.gather(
                *(post(path, headers) for _ in range(parallel)))))  # fmt: skip
        elapsed = time.perf_counter() - started
    await asyncio.sleep(1.0)
    stop.set()
    await sampler
    return {"parallel_per_route": parallel, "body_mb": mb, "statuses": statuses,
            "seconds": round(elapsed, 2), "rss_peak_growth_mb": round(max(peaks) - baseline),
            "rss_after_growth_mb": round(rss_mb(pid) - baseline)}  # fmt: skip


async def run(
    rounds: int, paths: int, threads: int, memory_mb: int, decode_in: str, parts: set[str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "big.png"
        photo.write_bytes(big_png())
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench._edge_server", str(photo), str(threads), str(memory_mb),
            decode_in,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            ready = json.loads(await server.stdout.readline())
            base = ready["base_url"]
            result: dict[str, Any] = {}
            if "images" in parts:
                result["images"] = await images_part(base, ready, server.pid, rounds)
            if "metrics" in parts:
                result["metrics"] = await metrics_part(base, paths)
            if "unsigned" in parts:
                result["unsigned_bodies"] = await unsigned_part(base, server.pid)
        finally:
            assert server.stdin is not None
            server.stdin.close()
            await asyncio.wait_for(server.wait(), 60)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--paths", type=int, default=5000)
    parser.add_argument("--decode-threads", type=int, default=2)
    parser.add_argument("--decode-memory-mb", type=int, default=384)
    parser.add_argument(
        "--decode-in", choices=("processes", "threads"), default="processes",
        help="images.decode_processes true (the default) or false",
    )  # fmt: skip
    parser.add_argument("--routes", default=",".join(sorted(ROUTES)), help="heavy routes")
    parser.add_argument("--parts", default=",".join(PARTS), help="which parts to run")
    args = parser.parse_args()
    ROUTES.intersection_update(args.routes.split(","))
    parts = set(args.parts.split(","))
    if not parts <= set(PARTS):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    limits = (args.decode_threads, args.decode_memory_mb, args.decode_in)
    result = asyncio.run(run(args.rounds, args.paths, *limits, parts))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
