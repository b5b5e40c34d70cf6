"""Gateway benchmark: webhook ack latency and sustained msg/s of a whole kefu vs a bare handler.

    python -m bench.gateway [--postgres | --store-url URL] [--requests 10000] [--senders 200]
                            [--rates 250,500,1000] [--markdown PATH]

kefu runs in its own process (webhook adapter, worker, dispatcher, instant StubEngine, a
durable store: SQLite in a temp dir by default; ``--postgres`` creates and drops a database
on 127.0.0.1:5432). The bare reference (bench/_gateway_bare.py: parse JSON, answer 202) runs
in another. This process is the load generator: every request is pre-built and pre-signed
with the reference ``standardwebhooks`` library before the clock starts, and sent over
``--senders`` keep-alive connections by a minimal HTTP/1.1 client on raw asyncio transports
(cheaper per request than aiohttp's client, so the generator distorts less).

Phases, each against both servers: paced load at each ``--rates`` value (latency from send
to the 202 while the server keeps up), then ``--requests`` as fast as the senders go
(msg/s). kefu's store is then drained and checked: every 202-accepted ``webhook-id`` is in
the inbox exactly once, and every turn answered with one delivered outbox row.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from core.store.db import create_engine
from core.store.schema import inbox, outbox

SECRET = "whsec_" + base64.b64encode(b"kefu-gateway-bench-secret-01234").decode()
SOURCE = "bench"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TICKS = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- load client


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request in flight; Content-Length bodies only."""

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
        self._waiter.set_result((int(lines[0][9:12]), time.perf_counter()))  # stamp on arrival

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("server closed the connection"))

    async def request(self, raw: bytes) -> tuple[int, float, float]:
        """Send ``raw``; return (status, sent_at, answered_at) in perf_counter seconds."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self.transport.write(raw)
        status, answered = await self._waiter
        return status, sent, answered


async def _open(port: int, count: int) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    made = [await loop.create_connection(_Connection, "127.0.0.1", port) for _ in range(count)]
    return [protocol for _, protocol in made]


def build_requests(port: int, count: int, conversations: int, tag: str) -> list[tuple[str, bytes]]:
    """``count`` signed ``POST /webhooks/bench`` requests as raw bytes, with their webhook ids."""
    signer, now = Webhook(SECRET), datetime.now(UTC)
    built = []
    for index in range(count):
        webhook_id = f"msg_{tag}_{index}"
        body = json.dumps({"conversation_id": f"c{index % conversations}",
                           "user": {"id": f"u{index % conversations}"},
                           "text": f"where is my order {index}?"})  # fmt: skip
        head = (f"POST /webhooks/{SOURCE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"webhook-id: {webhook_id}\r\nwebhook-timestamp: {int(now.timestamp())}\r\n"
                f"webhook-signature: {signer.sign(webhook_id, now, body)}\r\n\r\n")  # fmt: skip
        built.append((webhook_id, (head + body).encode()))
    return built


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured load phase."""

    server: str
    name: str
    sent: int
    accepted: int
    elapsed_s: float
    latencies_ms: tuple[float, ...]  # sorted
    max_lag_ms: float  # paced phases: how late the senders were behind schedule
    server_cpu_s: float
    accepted_ids: tuple[str, ...]

    @property
    def msg_per_s(self) -> float:
        return self.accepted / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, q: float) -> float:
        values = self.latencies_ms
        return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else float("nan")


async def run_phase(server: Server, name: str, requests: Sequence[tuple[str, bytes]],
                    senders: int, rate: float | None) -> Phase:  # fmt: skip
    """Send ``requests`` over ``senders`` connections: paced at ``rate``/s, or flat out."""
    connections = await _open(server.port, senders)
    loop = asyncio.get_running_loop()
    results: list[tuple[str, int, float, float]] = []
    lags = [0.0]
    start = loop.time() + 0.05
    cpu_before = server.cpu_s()

    async def sender(index: int, connection: _Connection) -> None:
        for position in range(index, len(requests), senders):
            if rate is not None:
                delay = start + position / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                lags.append(-delay * 1000)
            webhook_id, raw = requests[position]
            status, sent, answered = await connection.request(raw)
            results.append((webhook_id, status, sent, answered))

    began = time.perf_counter()
    await asyncio.gather(*(sender(i, c) for i, c in enumerate(connections)))
    elapsed = time.perf_counter() - max(began, min((r[2] for r in results), default=began))
    cpu = server.cpu_s() - cpu_before
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    ok = [r for r in results if r[1] == 202]
    latencies = tuple(sorted((r[3] - r[2]) * 1000 for r in results))
    return Phase(server.name, name, len(results), len(ok), elapsed, latencies, max(lags), cpu,
                 tuple(r[0] for r in ok))  # fmt: skip


# ----------------------------------------------------------------------------- servers


class Server:
    """A server subprocess that prints ``{"port": N}`` when ready; stopped with SIGTERM."""

    def __init__(self, name: str, args: list[str]) -> None:
        self.name, self.args, self.port = name, args, 0
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
        """CPU seconds (user + system) the server process has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


async def serve_kefu(store_url: str, ingest_only: bool = False) -> None:
    """The kefu side: store, webhook adapter, worker, dispatcher, StubEngine, HTTP server.

    With ``ingest_only`` the worker and dispatcher are stopped right after the start, so
    only the ack path runs (a diagnostic: the turns are answered by a later normal run).
    """
    from adapters.webhook.adapter import WebhookAdapter
    from config.webhook import WebhookSettings, WebhookSource
    from core.engines.stub import StubEngine
    from core.prompt_brain import PromptBrain
    from core.runtime import Runtime, RuntimeOptions
    from core.store.store import Store
    from core.turn import Role

    store = await Store.open(store_url)
    sources = {SOURCE: WebhookSource(secret=SecretStr(SECRET))}  # replies kept for wait/SSE
    settings = WebhookSettings(sources=sources, allow_image_urls=False)
    brain = PromptBrain()
    runtime = Runtime(store, StubEngine(), {Role.CUSTOMER: brain, Role.STAFF: brain},
                      {"webhook": lambda ctx: WebhookAdapter(ctx, settings)}, RuntimeOptions())  # fmt: skip
    await runtime.start()
    if ingest_only:
        await runtime.worker.stop()
        await runtime.dispatcher.stop()
    print(json.dumps({"port": int(runtime.base_url.rsplit(":", 1)[1])}), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runtime.stop()
    await store.close()


# ----------------------------------------------------------------------------- store checks


@dataclass(frozen=True, slots=True)
class StoreVerdict:
    """What the store holds after the run, compared with the webhook ids that got a 202."""

    accepted: int
    inbox_rows: int
    duplicate_rows: int
    missing: int
    unexpected: int
    answered: int
    turns_with_one_delivered_reply: int

    @property
    def ok(self) -> bool:
        exact = (
            self.inbox_rows == self.accepted == self.answered == self.turns_with_one_delivered_reply
        )
        return exact and not (self.duplicate_rows or self.missing or self.unexpected)


async def drain(url: str, timeout_s: float = 90) -> float:
    """Wait until every inbox turn is answered and every reply delivered; returns seconds."""
    engine = create_engine(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            async with engine.connect() as conn:
                open_in = (await conn.execute(select(func.count()).where(
                    inbox.c.status.in_(("pending", "processing"))))).scalar_one()  # fmt: skip
                open_out = (await conn.execute(select(func.count()).where(
                    outbox.c.status.in_(("pending", "sending"))))).scalar_one()  # fmt: skip
            if open_in == 0 and open_out == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    return time.monotonic() - started


async def verify_store(url: str, accepted_ids: set[str]) -> StoreVerdict:
    """Every 202-accepted webhook id in the inbox exactly once, answered, reply delivered."""
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


async def load(server: Server, args: argparse.Namespace, store_url: str | None) -> list[Phase]:
    """Warm up, paced phases (kefu drained after each), then the flat-out phase."""

    def requests(name: str, count: int) -> list[tuple[str, bytes]]:
        tag = f"{server.name}_{name}_{uuid.uuid4().hex[:6]}"
        return build_requests(server.port, count, args.conversations, tag)

    phases = [await run_phase(server, "warm-up", requests("warm", 400), args.senders, None)]
    for rate in args.rates:
        batch = requests(f"r{rate:g}", int(rate * args.rate_seconds))
        phases.append(await run_phase(server, f"paced {rate:g}/s", batch, args.senders, rate))
        if store_url is not None:
            await drain(store_url)
    flat = requests("flat", args.requests)
    phases.append(await run_phase(server, "flat out", flat, args.senders, None))
    return phases


async def benchmark(
    args: argparse.Namespace, store_url: str
) -> tuple[list[Phase], StoreVerdict, float]:
    with Server("bare", ["bench._gateway_bare"]) as bare:
        phases = await load(bare, args, None)
    serve = ["bench.gateway", "--serve-kefu", "--store-url", store_url]
    with Server("kefu", serve) as kefu:
        phases += await load(kefu, args, store_url)
        drain_s = await drain(store_url)
        accepted = {i for p in phases if p.server == "kefu" for i in p.accepted_ids}
        verdict = await verify_store(store_url, accepted)
    return phases, verdict, drain_s


def render(args: argparse.Namespace, store: str, phases: list[Phase], verdict: StoreVerdict,
           drain_s: float) -> str:  # fmt: skip
    """The results as Markdown: machine, command, table, targets, store check."""
    lscpu = subprocess.run("lscpu | head -20", shell=True, capture_output=True, text=True).stdout
    flat = {p.server: p for p in phases if p.name == "flat out"}
    ratio = flat["kefu"].msg_per_s / flat["bare"].msg_per_s
    paced = [p for p in phases if p.server == "kefu" and p.name.startswith("paced")]
    lines = [
        f"### {store} store, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "", f"Command: `{shlex.join(['python', '-m', 'bench.gateway', *sys.argv[1:]])}`",
        f"Python {platform.python_version()}, {args.senders} senders (keep-alive connections), "
        f"load generator in its own process; the servers are separate processes.", "",
        "| server | phase | requests | 2xx | msg/s | p50 ms | p90 ms | p99 ms | max ms "
        "| sender lag max ms | server CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for p in phases:
        cpu = p.server_cpu_s / p.elapsed_s * 100 if p.elapsed_s else 0
        lines.append(f"| {p.server} | {p.name} | {p.sent} | {p.accepted} | {p.msg_per_s:,.0f} | "
                     f"{p.pct(50):.1f} | {p.pct(90):.1f} | {p.pct(99):.1f} | "
                     f"{p.latencies_ms[-1]:.1f} | {p.max_lag_ms:.0f} | {cpu:.0f} % |")  # fmt: skip
    lines += ["", f"kefu flat out / bare flat out: **{ratio:.0%}**", "", "Targets:"]
    for p in paced:
        lines.append(f"- p99 ≤ 20 ms at {p.name}: {p.pct(99):.1f} ms → "
                     f"{'met' if p.pct(99) <= 20 else 'MISSED'}")  # fmt: skip
    met = flat["kefu"].msg_per_s >= 1000
    lines += [f"- ≥ 1,000 msg/s sustained: {flat['kefu'].msg_per_s:,.0f} → {'met' if met else 'MISSED'}",
              f"- ≥ 30 % of bare: {ratio:.0%} → {'met' if ratio >= 0.3 else 'MISSED'}", "",
              f"Store check ({'OK' if verdict.ok else 'FAILED'}): {verdict.accepted} accepted "
              f"(202), {verdict.inbox_rows} inbox rows, {verdict.duplicate_rows} duplicated, "
              f"{verdict.missing} missing, {verdict.unexpected} unexpected; {verdict.answered} "
              f"answered, {verdict.turns_with_one_delivered_reply} with exactly one delivered "
              f"reply; final drain {drain_s:.1f} s.", "", "```", lscpu.rstrip(), "```"]  # fmt: skip
    return "\n".join(lines)


def _create_pg_database() -> tuple[str, str]:
    import asyncpg  # only for --postgres

    name = f"kefu_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def _drop_pg_database(name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(drop())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store-url", help="default: SQLite in a temporary directory")
    parser.add_argument(
        "--postgres", action="store_true", help="create/drop a database on 127.0.0.1:5432"
    )
    parser.add_argument("--requests", type=int, default=10_000, help="flat-out phase size")
    parser.add_argument("--senders", type=int, default=200)
    parser.add_argument(
        "--rates", type=lambda v: [float(r) for r in v.split(",")], default=[250.0, 500.0, 1000.0]
    )
    parser.add_argument("--rate-seconds", type=float, default=3.0)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--markdown", type=Path, help="also write the results here")
    parser.add_argument("--serve-kefu", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ingest-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_kefu:
        asyncio.run(serve_kefu(args.store_url, args.ingest_only))
        return 0
    database = None
    with tempfile.TemporaryDirectory(prefix="kefu-gateway-") as folder:
        url = args.store_url or f"sqlite+aiosqlite:///{Path(folder) / 'kefu.db'}"
        if args.postgres:
            database, url = _create_pg_database()
        try:
            phases, verdict, drain_s = asyncio.run(benchmark(args, url))
        finally:
            if database is not None:
                _drop_pg_database(database)
    store = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    report = render(args, store, phases, verdict, drain_s)
    print(report)
    if args.markdown is not None:
        args.markdown.write_text(report + "\n")
    errors = sum(p.sent - p.accepted for p in phases)
    return 0 if verdict.ok and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
