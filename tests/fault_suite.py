"""The fault suite: mixed traffic on Telegram, Slack and webhooks into N ``serve`` replicas
(separate processes sharing one store) behind a load balancer, with kill -9 at set points.

Used by ``tests/test_fault_suite.py`` (CI, smaller) and ``bench/fault_suite.py`` (1,000
messages, figures). Everything runs on 127.0.0.1:

* the platforms are the fakes in ``tests/fakes`` (the real adapters, pointed at them);
* the engine is remote: kefu's own OpenAI-compatible core API around a stub engine, which
  every replica calls through ``engine.kind: openai`` (as with a real ``main.py core`` or
  vLLM);
* a small load balancer forwards each platform request to a live replica (round robin) and,
  when the connection fails (the replica was killed) or the answer is a 5xx (starting),
  to the next one, as a platform or a real balancer retries; the platform's idempotency
  keys make a retry harmless;
* a killer sends SIGKILL to one replica each time the delivered replies pass the next kill
  point, and starts it again at once.

The outcome counts, per scripted message, the replies the platforms received: answered
exactly once, duplicates (an extra copy: a send whose "delivered" mark the kill prevented,
or an orphaned streaming draft), lost, and conversations answered out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bench.demo_adapters import (
    SLACK_SECRET,
    TG_SECRET,
    WEBHOOK_SECRET,
    SlackDriver,
    StoreCheck,
    Tally,
    TelegramDriver,
    WebhookDriver,
    check_store,
    demo_answer,
    plan,
    tally,
)
from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.api.serving import build_service_app
from core.engines.stub import StubEngine
from core.store.store import Store
from tests.fakes.callback_receiver import CallbackReceiver
from tests.fakes.slack_server import FakeSlack
from tests.fakes.telegram_server import FakeTelegramServer
from tests.netns import Hosts

ROOT = Path(__file__).resolve().parent.parent
HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
# Telegram sends an album's next photo only after the previous one was acknowledged. Here the
# driver, the balancer and the replicas share two starved cores, and a killed replica's
# restart can hold that round trip past kefu's default 1.5 s debounce (it splits the album:
# measured, BENCHMARKS.md); 3 s keeps the suite about kills, not about this machine's CPU.
ALBUM_DEBOUNCE_S = 3.0


@dataclass
class Replica:
    """One ``serve`` process (``tests/replica.py``) and how to start it again."""

    name: str
    env: dict[str, str]
    prefix: tuple[str, ...] = ()  # e.g. ``ip netns exec <ns>``: run on another "host"
    process: asyncio.subprocess.Process | None = None
    url: str = ""
    kills: int = 0

    async def start(self) -> None:
        log = open(self.env["KEFU_FAULT_LOG"], "ab")  # noqa: SIM115, ASYNC230 - the child keeps it
        self.process = await asyncio.create_subprocess_exec(
            *self.prefix, sys.executable, "-m", "tests.replica", cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
        log.close()
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 120)
        if not line.startswith(b"ready "):
            raise RuntimeError(f"replica {self.name} did not start: {line!r}")
        self.url = line.split()[1].decode()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no clean-up of any kind
        self.kills += 1

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class Balancer:
    """Round robin over the replicas; a failed connection is tried on the next one."""

    def __init__(self, replicas: list[Replica], patience_s: float = 60.0) -> None:
        self.replicas = replicas
        self.patience_s = patience_s
        self.failovers = 0
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> Balancer:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        deadline = time.monotonic() + self.patience_s
        while True:
            replica = self.replicas[next(self._turn) % len(self.replicas)]
            try:
                async with self._session.request(
                    request.method, replica.url + request.path_qs, data=body, headers=headers
                ) as response:
                    payload = await response.read()
                    if response.status >= 500 and time.monotonic() < deadline:
                        # Starting, or its store is away: the platform would deliver again.
                        self.failovers += 1
                        await asyncio.sleep(0.05)
                        continue
                    return web.Response(
                        status=response.status, body=payload,
                        content_type=response.content_type,
                    )  # fmt: skip
            except (aiohttp.ClientError, OSError):
                self.failovers += 1  # killed (or restarting): the next replica gets it
                if time.monotonic() > deadline:
                    return web.Response(status=502)
                await asyncio.sleep(0.05)


@dataclass
class SuiteResult:
    messages: int
    replicas: int
    kills: int
    tally: Tally
    store: StoreCheck
    requests: int
    failovers: int
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.tally.duplicates

    @property
    def lost(self) -> int:
        return self.tally.lost


async def _remote_engine() -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(
        build_service_app(
            StubEngine(demo_answer), ServiceOptions(AccessOptions(open_inference=True))
        ),
        access_log=None,
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


def _env(store_url: str, engine_url: str, tg: FakeTelegramServer, slack: FakeSlack,
         receiver: CallbackReceiver, folder: str, name: str) -> dict[str, str]:  # fmt: skip
    settings = {
        "STORE__URL": store_url, "ENGINE__KIND": "openai", "ENGINE__BASE_URL": engine_url,
        "ENGINE__REMOTE_SUPPORTS_IMAGES": "true", "ENGINE__TIMEOUT_S": "30",
        "SERVICE__PORT": "0", "HANDOFF__ENABLED": "false", "LOG_LEVEL": "WARNING",
        "WORKER__LEASE_S": "3", "WORKER__DELIVERY_LEASE_S": "3",
        "WORKER__POLL_INTERVAL_S": "0.1", "LIMITS__CUSTOMER_PER_MINUTE": "6000",
        "LIMITS__REDIS_URL": os.environ.get("KEFU_TEST_REDIS", "redis://127.0.0.1:6379/0"),
        "TELEGRAM__BOT_TOKEN": tg.token, "TELEGRAM__MODE": "webhook",
        "TELEGRAM__WEBHOOK_SECRET": TG_SECRET, "TELEGRAM__WEBHOOK_URL": "https://kefu.example.com",
        "TELEGRAM__BASE_URL": tg.base_url, "TELEGRAM__BASE_FILE_URL": tg.file_url,
        "TELEGRAM__ALBUM_DEBOUNCE_S": str(ALBUM_DEBOUNCE_S), "TELEGRAM__STREAM_EDIT_INTERVAL_S": "0.2",
        "SLACK__BOT_TOKEN": slack.bot_token, "SLACK__SIGNING_SECRET": SLACK_SECRET,
        "SLACK__BASE_URL": slack.api_url, "SLACK__STREAM_UPDATE_INTERVAL_S": "0.2",
        "SLACK__ACK_BUDGET_S": "2.8",
        "WEBHOOK__SOURCES__SHOP__SECRET": WEBHOOK_SECRET,
        "WEBHOOK__SOURCES__SHOP__CALLBACK_URL": receiver.url,
        "WEBHOOK__CALLBACK_RETRY_SCHEDULE_S": "[0, 0.2, 0.5, 1, 2]",
    }  # fmt: skip
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    log = {"KEFU_FAULT_LOG": str(Path(folder) / f"{name}.log")}
    return {**inherited, "PYTHONPATH": str(ROOT), **log,
            **{f"KEFU_{k}": v for k, v in settings.items()}}  # fmt: skip


async def _delivered(store: Store) -> int:
    return (await store.counts()).get("outbox.delivered", 0)


async def _killer(
    replicas: list[Replica], store: Store, points: list[int], fired: list[int]
) -> None:
    """SIGKILL a replica each time the delivered replies pass a kill point; restart it.
    ``fired`` holds the delivered count at each kill, so the driver can wait for a due one."""
    for index, point in enumerate(points):
        while await _delivered(store) < point:
            await asyncio.sleep(0.02)
        victim = replicas[index % len(replicas)]
        victim.kill()
        fired.append(await _delivered(store))
        assert victim.process is not None
        await victim.process.wait()
        await victim.start()


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        print(f"fault suite: the killer failed: {task.exception()!r}", file=sys.stderr)


async def _await_due_kills(store: Store, points: list[int], fired: list[int]) -> None:
    """Hold the next round until every kill point already passed has fired: under load a
    restart can outlast a round, and a kill must land while traffic still flows."""
    delivered = await _delivered(store)
    due = sum(point <= delivered for point in points)
    deadline = time.monotonic() + 60
    while len(fired) < due and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def _settle(store: Store, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled: {await store.counts()}")
        if True:
            counts = await store.counts()
            turns = sum(n for k, n in counts.items() if k.startswith("inbox."))
            open_ = sum(counts.get(k, 0) for k in ("inbox.pending", "inbox.processing",
                                                   "outbox.pending", "outbox.sending"))  # fmt: skip
            if turns >= expected and not open_:
                return
            await asyncio.sleep(0.1)


def _ports(*urls: str) -> list[int]:
    return [port for url in urls if (port := urlsplit(url).port) is not None]


async def _replicas(store_url: str, engine_url: str, tg: FakeTelegramServer, slack: FakeSlack,
                    receiver: CallbackReceiver, folder: str, count: int,
                    stack: contextlib.AsyncExitStack, netns: bool) -> list[Replica]:  # fmt: skip
    envs = [_env(store_url, engine_url, tg, slack, receiver, folder, f"r{i}") for i in range(count)]
    if not netns:
        return [Replica(f"r{i}", env) for i, env in enumerate(envs)]
    ports = _ports(store_url, engine_url, tg.base_url, slack.api_url, receiver.url,
                   envs[0]["KEFU_LIMITS__REDIS_URL"])  # fmt: skip
    hosts = await stack.enter_async_context(Hosts(count, ports))
    return [
        Replica(f"r{i}", {**env, "KEFU_SERVICE__HOST": ns.ns_ip}, tuple(ns.command()))
        for i, (env, ns) in enumerate(zip(envs, hosts.namespaces, strict=True))
    ]


async def run_suite(
    store_url: str, *, replicas: int = 2, conversations: int = 150, kills: int = 3,
    timeout_s: float = 240.0, netns: bool = False, album_debounce_s: float = ALBUM_DEBOUNCE_S,
    telegram_sends_in_flight: int | None = None, slack_file_delay_s: float = 0.0,
) -> SuiteResult:  # fmt: skip
    """Drive ``conversations`` (about 2 messages each) through the replicas with ``kills``
    kill -9s; returns what the platforms and the store saw. With ``netns`` each replica
    runs in its own network namespace (``tests/netns.py``; needs root). The fake Slack
    serves every file ``slack_file_delay_s`` late (past the 2.8 s ack budget: every Slack
    photo is fetched after the acknowledgement, as on a starved machine)."""
    started = time.monotonic()
    folder = tempfile.mkdtemp(prefix="kefu-faults-")
    store = await Store.open(store_url)  # migrates once, before the replicas start
    engine_runner, engine_url = await _remote_engine()
    try:
        async with (FakeTelegramServer() as tg, FakeSlack() as slack,
                    CallbackReceiver(WEBHOOK_SECRET) as receiver,
                    aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack):  # fmt: skip
            group = await _replicas(store_url, engine_url, tg, slack, receiver, folder,
                                    replicas, stack, netns)  # fmt: skip
            slack.file_delay_s = slack_file_delay_s
            for replica in group:
                replica.env["KEFU_TELEGRAM__ALBUM_DEBOUNCE_S"] = str(album_debounce_s)
                if telegram_sends_in_flight is not None:
                    replica.env["KEFU_TELEGRAM__MAX_SENDS_IN_FLIGHT"] = str(
                        telegram_sends_in_flight
                    )
            try:
                result = await _drive(group, store, tg, slack, receiver, session, conversations,
                                      kills, timeout_s, started)  # fmt: skip
            finally:  # never leave a replica behind, whatever failed
                await asyncio.gather(*(r.stop() for r in group))
    finally:
        await engine_runner.cleanup()
        await store.close()
    return result


async def _drive(
    group: list[Replica], store: Store, tg: FakeTelegramServer, slack: FakeSlack,
    receiver: CallbackReceiver, session: aiohttp.ClientSession, conversations: int, kills: int,
    timeout_s: float, started: float,
) -> SuiteResult:  # fmt: skip
    await asyncio.gather(*(r.start() for r in group))
    async with Balancer(group) as balancer:
        drivers: dict[str, Any] = {
                "telegram": TelegramDriver(tg, session), "slack": SlackDriver(slack, session),
                "webhook": WebhookDriver(receiver, session),
            }  # fmt: skip
        for driver in drivers.values():
            driver.url = balancer.url + driver.path
        scripted = plan(conversations, drivers)
        points = [len(scripted) * (k + 1) // (kills + 1) for k in range(kills)]
        fired: list[int] = []
        killer = asyncio.create_task(_killer(group, store, points, fired))
        killer.add_done_callback(_report_failure)
        requests, problems = 0, []
        for round_no in range(max(m.round_no for m in scripted) + 2):
            results = await asyncio.gather(*(d.send_round(round_no) for d in drivers.values()))
            requests += sum(n for n, _ in results)
            problems += [p for _, found in results for p in found]
            expected = sum(m.round_no <= round_no for m in scripted)
            try:
                await _settle(store, expected, timeout_s)
            except TimeoutError as exc:
                problems.append(f"round {round_no}: {exc}")
                break
            await _await_due_kills(store, points, fired)
        with contextlib.suppress(asyncio.CancelledError):
            killer.cancel()
            await killer
        await asyncio.sleep(1.5)  # a late duplicate (lease lapse, album) shows now
        with contextlib.suppress(TimeoutError):
            await _settle(store, len(scripted), 10 if problems else timeout_s)
        replies: dict[str, list[str]] = {}
        for driver in drivers.values():
            replies.update(driver.replies())
        problems += drivers["webhook"].problems()
        result = SuiteResult(
                len(scripted), len(group), sum(r.kills for r in group), tally(scripted, replies),
                await check_store(store), requests, balancer.failovers,
                time.monotonic() - started, problems,
            )  # fmt: skip
    return result
