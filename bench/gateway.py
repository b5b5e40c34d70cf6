"""Gateway benchmark: webhook ack latency and msg/s of a whole kefu against a bare handler.

    python -m bench.gateway [--postgres | --store-url URL] [--requests 3000] [--senders 200]
                            [--rates 50,100,250,500] [--sustained-rate 1000] [--flat-rounds 3]
                            [--split | --ingest-only] [--client raw|aiohttp] [--markdown PATH]

kefu runs in its own process: webhook adapter, worker, dispatcher, instant StubEngine and a
durable store (SQLite in a temporary directory by default; ``--postgres`` creates and drops
a database on 127.0.0.1:5432). The bare reference (bench/_gateway_bare.py: parse the JSON,
answer 202) runs in another. This process is the load generator: every request is built and
signed (reference ``standardwebhooks`` library) before the clock starts, then sent over
``--senders`` keep-alive connections by a minimal HTTP/1.1 client on raw asyncio transports,
which costs far less per request than aiohttp's client and so distorts less on 2 cores
(``--client aiohttp`` uses an aiohttp session with a pool of ``--senders`` instead).

Phases, against both servers: a warm-up; paced load at each ``--rates`` value (latency from
send to the response while the server keeps up; kefu's inbox is drained after each); for
kefu alone, a sustained phase paced at ``--sustained-rate`` that also reports how many turns
the worker answered meanwhile and how many were still open at its end (end-to-end pace); then
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
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from bench._gateway_load import (
    SECRET,
    SOURCE,
    Phase,
    Server,
    build_requests,
    open_senders,
    run_phase,
)
from bench._gateway_store import StoreVerdict, drain, verify_store

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def serve_kefu(store_url: str, ingest_only: bool = False, role: str = "all") -> None:
    """The kefu side: store, webhook adapter, worker, dispatcher, StubEngine, HTTP server.

    With ``ingest_only`` the worker and dispatcher stop right after the start, so only the
    ack path runs. Replies go nowhere but the adapter's reply book (no callback URL), so
    delivery costs no outbound HTTP.
    """
    from aiohttp import web

    import main
    from adapters.webhook.settings import WebhookSettings, WebhookSource
    from core.answering.prompt_brain import PromptBrain
    from core.engines.stub import StubEngine
    from core.model.turn import Role
    from core.runtime.heap import settle_heap
    from core.runtime.runtime import Role as ProcessRole
    from core.store.store import Store

    store = await Store.open(store_url)
    sources = {SOURCE: WebhookSource(secret=SecretStr(SECRET))}
    settings = main.load_settings(
        webhook=WebhookSettings(sources=sources, allow_image_urls=False),
        service={"host": "127.0.0.1", "port": 0},
        worker={"poll_interval_s": 0.05},
        handoff={"enabled": False},
    )
    brain = PromptBrain()
    brains = {Role.CUSTOMER: brain, Role.STAFF: brain}
    app = web.Application(client_max_size=settings.service.max_body_bytes)
    runtime = main.assemble(settings, store, StubEngine(), brains, app, ProcessRole(role))
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


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True, slots=True)
class Results:
    phases: list[Phase]
    verdict: StoreVerdict
    drain_s: float  # the first flat-out round's drain
    backlog: int  # turns unanswered when that drain began
    sustained: tuple[Phase, float, int] | None = None  # the phase, its drain, its backlog

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
        sustained = None
        if args.sustained_rate and not args.ingest_only:
            rate, count = args.sustained_rate, int(args.sustained_rate * args.sustained_seconds)
            phase = await kefu.phase(f"sustained {rate:g}/s", count, rate)
            phases.append(phase)
            sustained = (phase, *await kefu.drain())
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
    return Results(phases, verdict, drain_s, backlog, sustained)


def _row(p: Phase) -> str:
    return (f"| {p.server} | {p.name} | {p.sent} | {p.accepted} | {p.msg_per_s:,.0f} | "
            f"{p.pct(50):.1f} | {p.pct(90):.1f} | {p.pct(99):.1f} | {p.latencies_ms[-1]:.1f} | "
            f"{p.max_lag_ms:.0f} | {p.cpu_pct(p.server_cpu_s):.0f} % | "
            f"{p.cpu_pct(p.generator_cpu_s):.0f} % | "
            f"{max(0.0, p.cpu_pct(p.machine_cpu_s - p.server_cpu_s - p.generator_cpu_s)):.0f} % |")  # fmt: skip


def _sustained_line(sustained: tuple[Phase, float, int]) -> str:
    phase, drain_s, open_at_end = sustained
    answered_rate = (phase.accepted - open_at_end) / phase.elapsed_s if phase.elapsed_s else 0.0
    return (f"End to end, {phase.name} for {phase.elapsed_s:.1f} s (acks paced; the worker and "
            f"dispatcher answer and deliver at the same time): ack p99 {phase.pct(99):.1f} ms; "
            f"{answered_rate:,.0f} turns/s answered during the phase; **{open_at_end} of "
            f"{phase.accepted} turns still open** when the last ack came back, all answered and "
            f"delivered {drain_s:.1f} s later.  ")  # fmt: skip


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
    if results.sustained is not None:
        lines.append(_sustained_line(results.sustained))
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
    parser.add_argument("--sustained-rate", type=float, default=1000.0,
                        help="kefu only, after the paced phases: paced msg/s with answering "
                             "measured alongside (0: skip)")  # fmt: skip
    parser.add_argument("--sustained-seconds", type=float, default=5.0)
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
