"""Gateway benchmark: webhook ack latency and msg/s of a whole kefu against a bare handler.

    python -m bench.gateway [--postgres | --store-url URL] [--requests 3000] [--senders 200]
                            [--rates 50,100,250,500] [--flat-rounds 3] [--split | --ingest-only]
                            [--client raw|aiohttp] [--markdown PATH]

kefu runs in its own process: webhook adapter, worker, dispatcher, instant StubEngine and a
durable store (SQLite in a temporary directory by default; ``--postgres`` creates and drops
a database on 127.0.0.1:5432). The bare reference (bench/_gateway_bare.py: parse the JSON,
answer 202) runs in another. This process is the load generator: every request is built and
signed (reference ``standardwebhooks`` library) before the clock starts, then sent over
``--senders`` keep-alive connections by a minimal HTTP/1.1 client on raw asyncio transports,
which costs far less per request than aiohttp's client and so distorts less on 2 cores
(``--client aiohttp`` uses an aiohttp session with a pool of ``--senders`` instead).

Phases, against both servers: a warm-up; paced load at each ``--rates`` value (latency from
send to the response while the server keeps up; kefu's inbox is drained after each); then
``--flat-rounds`` flat-out bursts per server (msg/s), taken in turn (kefu, bare, kefu, …)
while both servers stay up, so that the machine's drifts in speed reach both alike; the
ratio is of the medians. ``--split`` runs kefu as ``serve --role ingest`` plus ``serve
--role worker``. Afterwards kefu is drained and its store checked: every webhook id
that got a 202 is in the inbox exactly once, and every turn is answered with exactly one
delivered outbox row. ``--ingest-only`` stops kefu's worker and dispatcher, to measure the
ack path alone (the store check then covers the inbox only). Exit status 1 if a request
failed or a store check did not hold; missed targets are reported, not failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from core.store.db import create_engine
from core.store.schema import inbox, outbox

SECRET = "whsec_" + base64.b64encode(b"kefu-gateway-bench-secret-01234").decode()
SOURCE = "bench"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TICKS = os.sysconf("SC_CLK_TCK")
Timing = tuple[int, float, float]  # status, sent at, answered at (perf_counter seconds)


@dataclass(frozen=True, slots=True)
class Request:
    """One pre-signed request: its parts (for aiohttp) and its bytes on the wire (raw client)."""

    webhook_id: str
    headers: dict[str, str]
    body: bytes
    raw: bytes


# ----------------------------------------------------------------------------- load generator


class _Connection(asyncio.Protocol):
    """Raw client: one keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, float]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0 or self._waiter is None:
            return
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self._buffer) < end + 4 + length:
            return
        del self._buffer[: end + 4 + length]
        self._waiter.set_result((int(lines[0][9:12]), time.perf_counter()))  # stamped on arrival

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("server closed the connection"))

    async def send(self, request: Request) -> Timing:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self.transport.write(request.raw)
        status, answered = await self._waiter
        return status, sent, answered

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _AiohttpSender:
    """aiohttp client: one sender of a shared session (whose pool has one connection each)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def send(self, request: Request) -> Timing:
        sent = time.perf_counter()
        async with self.session.post(self.url, data=request.body, headers=request.headers) as r:
            await r.read()
        return r.status, sent, time.perf_counter()

    def close(self) -> None:
        return None


Sender = _Connection | _AiohttpSender


async def open_senders(
    port: int, count: int, session: aiohttp.ClientSession | None
) -> list[Sender]:
    """``count`` raw connections, opened before the clock starts; or ``count`` aiohttp senders."""
    if session is not None:
        url = f"http://127.0.0.1:{port}/webhooks/{SOURCE}"
        return [_AiohttpSender(session, url) for _ in range(count)]
    loop = asyncio.get_running_loop()
    return [(await loop.create_connection(_Connection, "127.0.0.1", port))[1] for _ in range(count)]


def build_requests(port: int, count: int, conversations: int, tag: str) -> list[Request]:
    """``count`` signed ``POST /webhooks/bench`` text messages spread over conversations."""
    signer, now = Webhook(SECRET), datetime.now(UTC)
    built = []
    for index in range(count):
        webhook_id = f"msg_{tag}_{index}"
        body = json.dumps({"conversation_id": f"c{index % conversations}",
                           "user": {"id": f"u{index % conversations}"},
                           "text": f"where is my order {index}?"})  # fmt: skip
        headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
                   "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": signer.sign(webhook_id, now, body)}  # fmt: skip
        head = f"POST /webhooks/{SOURCE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        head += f"Content-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        built.append(Request(webhook_id, headers, body.encode(), (head + body).encode()))
    return built


def _machine_busy_s() -> float:
    """CPU seconds all processes on the machine have been busy (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS  # minus idle and iowait


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured load phase; CPU figures are seconds used during the phase."""

    server: str
    name: str
    sent: int
    accepted: int
    elapsed_s: float
    latencies_ms: tuple[float, ...]  # sorted
    max_lag_ms: float  # paced phases: how far the senders fell behind their schedule
    server_cpu_s: float
    generator_cpu_s: float
    machine_cpu_s: float
    accepted_ids: tuple[str, ...]

    @property
    def msg_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, q: float) -> float:
        values = self.latencies_ms
        return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else float("nan")

    def cpu_pct(self, seconds: float) -> float:
        return seconds / self.elapsed_s * 100 if self.elapsed_s else 0.0


async def run_phase(server: Server, name: str, requests: Sequence[Request],
                    senders: Sequence[Sender], rate: float | None) -> Phase:  # fmt: skip
    """Send ``requests`` through ``senders``: paced at ``rate``/s in total, or flat out."""
    loop = asyncio.get_running_loop()
    results: list[tuple[str, int, float, float]] = []
    lags = [0.0]
    start = loop.time() + 0.05

    async def run(index: int, sender: Sender) -> None:
        for position in range(index, len(requests), len(senders)):
            if rate is not None:
                delay = start + position / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                lags.append(-delay * 1000)
            status, sent, answered = await sender.send(requests[position])
            results.append((requests[position].webhook_id, status, sent, answered))

    cpu = (server.cpu_s(), time.process_time(), _machine_busy_s())
    await asyncio.gather(*(run(i, sender) for i, sender in enumerate(senders)))
    used = (server.cpu_s() - cpu[0], time.process_time() - cpu[1], _machine_busy_s() - cpu[2])
    elapsed = max(r[3] for r in results) - min(r[2] for r in results)
    ok = [r for r in results if r[1] == 202]
    latencies = tuple(sorted((r[3] - r[2]) * 1000 for r in results))
    return Phase(server.name, name, len(results), len(ok), elapsed, latencies, max(lags), *used,
                 tuple(r[0] for r in ok))  # fmt: skip


# ----------------------------------------------------------------------------- servers


class Server:
    """A server subprocess that prints ``{"port": N}`` when ready; stopped with SIGTERM."""

    def __init__(self, name: str, module_args: list[str]) -> None:
        self.name, self.args, self.port = name, module_args, 0
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Server:
        self.process = subprocess.Popen([sys.executable, "-m", *self.args],
                                        stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} server did not start (exit {self.process.wait()})")
        self.port = int(json.loads(line)["port"])
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) the server has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


async def serve_kefu(store_url: str, ingest_only: bool = False, role: str = "all") -> None:
    """The kefu side: store, webhook adapter, worker, dispatcher, StubEngine, HTTP server.

    With ``ingest_only`` the worker and dispatcher stop right after the start, so only the
    ack path runs. Replies go nowhere but the adapter's reply book (no callback URL), so
    delivery costs no outbound HTTP.
    """
    from adapters.webhook.adapter import WebhookAdapter
    from config.webhook import WebhookSettings, WebhookSource
    from core.engines.stub import StubEngine
    from core.heap import settle_heap
    from core.prompt_brain import PromptBrain
    from core.runtime import Runtime, RuntimeOptions
    from core.store.store import Store
    from core.turn import Role

    store = await Store.open(store_url)
    sources = {SOURCE: WebhookSource(secret=SecretStr(SECRET))}
    settings = WebhookSettings(sources=sources, allow_image_urls=False)
    brain = PromptBrain()
    runtime = Runtime(store, StubEngine(), {Role.CUSTOMER: brain, Role.STAFF: brain},
                      {"webhook": lambda ctx: WebhookAdapter(ctx, settings)},
                      RuntimeOptions(role=role, poll_interval_s=0.05))  # type: ignore[arg-type]  # fmt: skip
    await runtime.start()
    if ingest_only:
        await runtime.worker.stop()
        await runtime.dispatcher.stop()
    settle_heap()  # as main.py does once kefu is started
    port = int(runtime.base_url.rsplit(":", 1)[1]) if runtime.base_url else 0
    print(json.dumps({"port": port}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runtime.stop()
    await store.close()


# ----------------------------------------------------------------------------- store checks


@dataclass(frozen=True, slots=True)
class StoreVerdict:
    """The store after the run, against the webhook ids that got a 202."""

    accepted: int
    inbox_rows: int
    duplicate_rows: int
    missing: int
    unexpected: int
    answered: int
    turns_with_one_delivered_reply: int

    def ok(self, answers_expected: bool) -> bool:
        exact = self.inbox_rows == self.accepted
        if answers_expected:
            exact = exact and self.answered == self.turns_with_one_delivered_reply == self.accepted
        return exact and not (self.duplicate_rows or self.missing or self.unexpected)


async def _open_counts(engine: AsyncEngine) -> tuple[int, int]:
    """Turns not yet answered, replies not yet delivered."""
    async with engine.connect() as conn:
        turns = (await conn.execute(select(func.count()).where(
            inbox.c.status.in_(("pending", "processing"))))).scalar_one()  # fmt: skip
        replies = (await conn.execute(select(func.count()).where(
            outbox.c.status.in_(("pending", "sending"))))).scalar_one()  # fmt: skip
    return int(turns), int(replies)


async def drain(url: str, timeout_s: float = 120) -> tuple[float, int]:
    """Wait until every turn is answered and every reply delivered.

    Returns:
        Seconds it took, and how many turns were unanswered at the start.
    """
    engine = create_engine(url)
    started = time.monotonic()
    try:
        backlog, _ = await _open_counts(engine)
        while any(await _open_counts(engine)) and time.monotonic() - started < timeout_s:
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    return time.monotonic() - started, backlog


async def verify_store(url: str, accepted_ids: set[str]) -> StoreVerdict:
    """Count inbox rows per webhook id, answered turns, and delivered replies per turn."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            ids = [r[0] for r in await conn.execute(select(inbox.c.platform_message_id))]
            answered = (await conn.execute(
                select(func.count()).where(inbox.c.status == "done"))).scalar_one()  # fmt: skip
            replies = (await conn.execute(
                select(outbox.c.turn_id, func.count(), func.min(outbox.c.status))
                .group_by(outbox.c.turn_id))).all()  # fmt: skip
    finally:
        await engine.dispose()
    stored = set(ids)
    return StoreVerdict(len(accepted_ids), len(ids), len(ids) - len(stored),
                        len(accepted_ids - stored), len(stored - accepted_ids), answered,
                        sum(1 for _, n, status in replies if n == 1 and status == "delivered"))  # fmt: skip


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class Results:
    phases: list[Phase]
    verdict: StoreVerdict
    drain_s: float  # the first flat-out round's drain
    backlog: int  # turns unanswered when that drain began

    def flat(self, server: str) -> list[Phase]:
        return [p for p in self.phases if p.server == server and p.name.startswith("flat out")]

    def median_rate(self, server: str) -> float:
        return statistics.median(p.msg_per_s for p in self.flat(server))

    def median_cpu_us(self, server: str) -> float:
        """Server CPU per accepted message in the flat-out rounds, µs (median)."""
        return statistics.median(p.server_cpu_s / p.accepted * 1e6 for p in self.flat(server))


class Loader:
    """Sends phases of pre-signed requests to one server (and drains kefu after them)."""

    def __init__(self, server: Server, args: argparse.Namespace, drain_url: str | None) -> None:
        self.server, self.args, self.drain_url = server, args, drain_url
        self.session: aiohttp.ClientSession | None = None
        if args.client == "aiohttp":
            limit = aiohttp.TCPConnector(limit=args.senders)
            self.session = aiohttp.ClientSession(connector=limit)

    async def phase(self, name: str, count: int, rate: float | None) -> Phase:
        tag = f"{self.server.name}{len(name)}{uuid.uuid4().hex[:8]}"
        requests = build_requests(self.server.port, count, self.args.conversations, tag)
        senders = await open_senders(self.server.port, self.args.senders, self.session)
        measured = await run_phase(self.server, name, requests, senders, rate)
        for sender in senders:
            sender.close()
        return measured

    async def drain(self) -> tuple[float, int]:
        return await drain(self.drain_url) if self.drain_url is not None else (0.0, 0)

    async def warm_and_paced(self) -> list[Phase]:
        """Warm-up and the paced phases, each drained before the next."""
        phases = [await self.phase("warm-up", 200, None)]
        await self.drain()
        for rate in self.args.rates:
            phases.append(
                await self.phase(f"paced {rate:g}/s", int(rate * self.args.rate_seconds), rate)
            )
            await self.drain()
        return phases

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


async def benchmark(args: argparse.Namespace, store_url: str) -> Results:
    serve = ["bench.gateway", "--serve-kefu", "--store-url", store_url]
    serve += ["--ingest-only"] if args.ingest_only else []
    with contextlib.ExitStack() as servers:
        if args.split:  # `serve --role ingest` + `serve --role worker`: answering elsewhere
            servers.enter_context(Server("kefu-worker", [*serve, "--role", "worker"]))
            serve += ["--role", "ingest"]
        bare = servers.enter_context(Server("bare", ["bench._gateway_bare"]))
        kefu = servers.enter_context(Server("kefu", serve))
        return await _measure(args, store_url, bare, kefu)


async def _measure(args: argparse.Namespace, store_url: str, bare_server: Server,
                   kefu_server: Server) -> Results:  # fmt: skip
    """Warm-up and paced phases for each server, then flat-out rounds taken in turn.

    Both servers are up all along, and the flat-out rounds alternate (kefu, then bare, …)
    so that drifts in the machine's speed reach both alike; kefu is drained after each of
    its rounds so that its answering does not overlap the bare handler's next round.
    """
    bare = Loader(bare_server, args, None)
    kefu = Loader(kefu_server, args, None if args.ingest_only else store_url)
    try:
        phases = await bare.warm_and_paced() + await kefu.warm_and_paced()
        drains: list[tuple[float, int]] = []
        for round_number in range(1, args.flat_rounds + 1):
            phases.append(await kefu.phase(f"flat out {round_number}", args.requests, None))
            drains.append(await kefu.drain())
            phases.append(await bare.phase(f"flat out {round_number}", args.bare_requests, None))
    finally:
        await bare.close()
        await kefu.close()
    accepted = {i for p in phases if p.server == "kefu" for i in p.accepted_ids}
    verdict = await verify_store(store_url, accepted)
    drain_s, backlog = drains[0] if drains else (0.0, 0)
    return Results(phases, verdict, drain_s, backlog)


def _row(p: Phase) -> str:
    return (f"| {p.server} | {p.name} | {p.sent} | {p.accepted} | {p.msg_per_s:,.0f} | "
            f"{p.pct(50):.1f} | {p.pct(90):.1f} | {p.pct(99):.1f} | {p.latencies_ms[-1]:.1f} | "
            f"{p.max_lag_ms:.0f} | {p.cpu_pct(p.server_cpu_s):.0f} % | "
            f"{p.cpu_pct(p.generator_cpu_s):.0f} % | "
            f"{max(0.0, p.cpu_pct(p.machine_cpu_s - p.server_cpu_s - p.generator_cpu_s)):.0f} % |")  # fmt: skip


def render(args: argparse.Namespace, store: str, results: Results, load_before: float) -> str:
    """The results as Markdown: command, table, targets, store check, machine."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()[:20]
    phases, verdict = results.phases, results.verdict
    kefu_rate, bare_rate = results.median_rate("kefu"), results.median_rate("bare")
    ratio = kefu_rate / bare_rate
    pairs = zip(results.flat("kefu"), results.flat("bare"), strict=True)
    round_ratios = ", ".join(f"{k.msg_per_s / b.msg_per_s:.0%}" for k, b in pairs)
    mode = "ack path only (worker and dispatcher stopped)" if args.ingest_only else "whole kefu"
    mode += ", ingest and worker as separate processes" if args.split else ""
    lines = [
        f"### {store} store, {mode}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
        f"Command: `{shlex.join(['python', '-m', 'bench.gateway', *sys.argv[1:]])}`  ",
        f"Python {platform.python_version()}, {args.client} client, {args.senders} senders (one "
        f"keep-alive connection each), {args.conversations} conversations; load average before "
        f"the run "
        f"{load_before:.2f}. Generator, kefu and the bare handler are separate processes.", "",
        "| server | phase | requests | 202 | msg/s | p50 ms | p90 ms | p99 ms | max ms "
        "| sender lag max ms | server CPU | generator CPU | rest of machine CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row(p) for p in phases), "",
        f"kefu flat out / bare flat out: **{ratio:.0%}** (medians of {args.flat_rounds} "
        f"alternating rounds: {kefu_rate:,.0f} / {bare_rate:,.0f} msg/s; round by round "
        f"{round_ratios})  ",
        f"Server CPU per message, flat out (medians): kefu "
        f"{results.median_cpu_us('kefu'):,.0f} µs, bare {results.median_cpu_us('bare'):,.0f} µs "
        f"(all kefu processes' threads; the split worker's CPU is not included)  ",
    ]  # fmt: skip
    if results.backlog:
        rate = results.backlog / results.drain_s if results.drain_s else 0.0
        lines.append(f"Answering after the first flat-out round: {results.backlog} open turns answered "
                     f"and delivered in {results.drain_s:.1f} s = **{rate:,.0f} turns/s** "
                     f"(worker + dispatcher, StubEngine).")  # fmt: skip
    lines += ["", "Targets:"]
    for p in (p for p in phases if p.server == "kefu" and p.name.startswith("paced")):
        verdict_text = "met" if p.pct(99) <= 20 else "MISSED"
        lines.append(f"- p99 ≤ 20 ms, {p.name}: {p.pct(99):.1f} ms → {verdict_text}")
    met = kefu_rate >= 1000
    lines += [
        f"- ≥ 1,000 msg/s: {kefu_rate:,.0f} → {'met' if met else 'MISSED'}",
        f"- ≥ 30 % of bare: {ratio:.0%} → {'met' if ratio >= 0.3 else 'MISSED'}", "",
        f"Store check: **{'OK' if verdict.ok(not args.ingest_only) else 'FAILED'}**: "
        f"{verdict.accepted} requests accepted (202), {verdict.inbox_rows} inbox rows, "
        f"{verdict.duplicate_rows} duplicated, {verdict.missing} missing, {verdict.unexpected} "
        f"unexpected; {verdict.answered} answered, {verdict.turns_with_one_delivered_reply} "
        f"with exactly one delivered reply.", "",
        "`lscpu | head -20`:", "```", *lscpu, "```",
    ]  # fmt: skip
    return "\n".join(lines)


def _postgres(statement: str) -> None:
    import asyncpg  # only for --postgres

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--postgres", action="store_true",
                        help="create (and drop) a database on 127.0.0.1:5432")  # fmt: skip
    parser.add_argument("--requests", type=int, default=3000, help="kefu's flat-out phase")
    parser.add_argument("--bare-requests", type=int, default=10_000, help="bare flat-out phase")
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw",
                        help="load generator's HTTP client")  # fmt: skip
    parser.add_argument("--rates", type=lambda v: [float(r) for r in v.split(",")],
                        default=[50.0, 100.0, 250.0, 500.0], help="paced phases, msg/s")  # fmt: skip
    parser.add_argument("--rate-seconds", type=float, default=2.0)
    parser.add_argument("--flat-rounds", type=int, default=3,
                        help="flat-out rounds per server, alternating kefu and bare")  # fmt: skip
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--ingest-only", action="store_true",
                        help="stop kefu's worker and dispatcher: measure the ack path alone")  # fmt: skip
    parser.add_argument("--markdown", type=Path, help="also write the results to this file")
    parser.add_argument("--serve-kefu", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--role", default="all", help=argparse.SUPPRESS)
    parser.add_argument(
        "--split",
        action="store_true",
        help="run kefu as an ingest process plus a worker process (serve --role)",
    )
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    if args.serve_kefu:
        asyncio.run(serve_kefu(args.store_url, args.ingest_only, args.role))
        return 0
    load_before = os.getloadavg()[0]
    database = f"kefu_bench_{uuid.uuid4().hex[:8]}" if args.postgres else None
    with tempfile.TemporaryDirectory(prefix="kefu-gateway-") as folder:
        url = args.store_url or f"sqlite+aiosqlite:///{Path(folder) / 'kefu.db'}"
        if database is not None:
            _postgres(f'CREATE DATABASE "{database}"')
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
        try:
            results = asyncio.run(benchmark(args, url))
        finally:
            if database is not None:
                _postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    store = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    report = render(args, store, results, load_before)
    print(report)
    if args.markdown is not None:
        args.markdown.write_text(report + "\n")
    failed = sum(p.sent - p.accepted for p in results.phases)
    return 0 if results.verdict.ok(not args.ingest_only) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
