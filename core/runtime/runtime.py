"""Runs the spine: store, engine, worker, dispatcher, adapters and the shared HTTP server.

:class:`Runtime` wires already-built parts together and owns their lifecycle; building
them from settings is ``main.py``'s job (the only composition root).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

from core.answering.answer import Answerer, AnswerSettings
from core.engines.base import Engine
from core.errors import ConfigError, StoreError
from core.ports import Adapter, Bell, Deliverer, Service, StreamOpener
from core.runtime.dispatcher import Dispatcher
from core.runtime.limits import RateLimiter
from core.runtime.stops import StopWatcher
from core.runtime.worker import Worker
from core.store.store import Store

log = logging.getLogger(__name__)


class Role(StrEnum):
    """What one process runs (``serve --role``)."""

    ALL = "all"  # everything in one process
    INGEST = "ingest"  # receives platform traffic and stores turns: no model, no worker
    WORKER = "worker"  # answers and delivers: no HTTP server, no receiving


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    worker_concurrency: int = 16
    lease_s: float = 60.0
    delivery_lease_s: float = 15.0
    poll_interval_s: float = 0.5
    delivery_schedule_s: tuple[float, ...] = (1, 5, 30, 120)
    max_attempts: int = 3  # a turn failing this often is dead-lettered
    engine_retry_s: float = 5.0  # a turn waits this long while the engine is down
    engine_handoff_after_s: float = 300.0  # then, after this long, it goes to staff
    retry_base_s: float = 1.0  # first wait before retrying a turn that failed unexpectedly
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    serve_http: bool = True
    # ALL runs everything in one process. INGEST receives platform traffic and stores turns
    # (no model, no worker), so acks never wait behind answering; WORKER answers and
    # delivers (no HTTP server, no receiving). Run one of each against the same store.
    role: Role = Role.ALL


def stream_openers(adapters: Mapping[str, Adapter]) -> dict[str, StreamOpener]:  # type: ignore[type-arg]
    """The adapters that can show an answer while it is written, by platform name."""
    return {name: a for name, a in adapters.items() if a.capabilities.streaming}


def _stop_watcher(store: Store, answerer: Answerer, options: RuntimeOptions) -> StopWatcher | None:
    """A worker process does not receive: stop buttons reach it through the inbox."""
    if options.role is not Role.WORKER:
        return None
    return StopWatcher(store, answerer.interrupts, options.poll_interval_s)


class Runtime:
    """Lifecycle owner of a running kefu: it wires nothing it was not given.

    Args:
        store: Opened store.
        engine: Engine (started by :meth:`start`).
        answerer: Answers turns (the worker's work).
        adapters: Platform adapters by name; each delivers its platform's outbox rows.
        options: Ports, concurrency, retry schedule, role.
        web_app: The application to serve (the core API routes may already be on it).
        deliverers: Outbox deliverers that are not platforms (the handoff desk's
            ``"handoff"`` rows).
        services: Long-lived parts started after the adapters and stopped after the
            worker (the handoff service); not run in the ingest role.
        on_answered: Called after each committed answer (besides waking the dispatcher).
        outbox: The bell the dispatcher waits on; others that queue outbox rows ring it.
        limiter: Rate limits on answering (closed by :meth:`stop`); None for no limits.
    """

    def __init__(
        self,
        store: Store,
        engine: Engine,
        answerer: Answerer,
        adapters: Mapping[str, Adapter],  # type: ignore[type-arg]
        options: RuntimeOptions | None = None,
        *,
        web_app: web.Application | None = None,
        deliverers: Mapping[str, Deliverer] | None = None,
        services: Sequence[Service] = (),
        on_answered: Sequence[Callable[[], None]] = (),
        outbox: Bell | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.answerer = answerer
        self.options = options or RuntimeOptions()
        self.web = web_app or web.Application(client_max_size=64 * 1024 * 1024)
        self.adapters = dict(adapters)
        self.services = tuple(services)
        self.dispatcher = Dispatcher(
            store,
            {**self.adapters, **(deliverers or {})},
            self.options.delivery_schedule_s,
            poll_interval_s=self.options.poll_interval_s,
            lease_s=self.options.delivery_lease_s,
            bell=outbox,
        )
        callbacks = (self.dispatcher.wake, *on_answered)
        self.worker = Worker(
            store,
            answerer,
            concurrency=self.options.worker_concurrency,
            lease_s=self.options.lease_s,
            poll_interval_s=self.options.poll_interval_s,
            on_completed=callbacks,
            limiter=limiter,
            max_attempts=self.options.max_attempts,
            engine_retry_s=self.options.engine_retry_s,
            engine_handoff_after_s=self.options.engine_handoff_after_s,
            retry_base_s=self.options.retry_base_s,
        )
        self.stops = _stop_watcher(store, answerer, self.options)
        self.limiter = limiter
        self._runner: web.AppRunner | None = None
        self._working = False
        self._started: list[Adapter | Service] = []  # type: ignore[type-arg]
        self._unwatch: Callable[[], Awaitable[None]] | None = None
        self.base_url = ""

    async def start(self) -> None:
        """Load the engine, serve HTTP, start the adapters and services, then work.

        Adapters' routes exist from construction and answer 503 until their adapter has
        started, so a platform's early retry is never lost.
        """
        role = self.options.role
        if role is not Role.INGEST:
            await self.engine.start()
        if self.options.serve_http and role is not Role.WORKER:
            self._runner = web.AppRunner(self.web, handle_signals=False, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.options.host, self.options.port)
            try:
                await site.start()
            except OSError as exc:
                where = f"{self.options.host}:{self.options.port}"
                raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}") from None
            port = self._runner.addresses[0][1]
            self.base_url = f"http://{self.options.host}:{port}"
        parts: list[Adapter | Service] = list(self.adapters.values())  # type: ignore[type-arg]
        if role is not Role.INGEST:
            parts.extend(self.services)
        for part in parts:
            await part.start()
            self._started.append(part)
        if role is Role.WORKER:
            await self._watch_inbox()
        if role is not Role.INGEST:
            await self.worker.start()
            await self.dispatcher.start()
            self._working = True
        if self.stops is not None:
            await self.stops.start()

    async def _watch_inbox(self) -> None:
        # Another process receives: on PostgreSQL it notifies us of new turns at once.
        try:
            self._unwatch = await self.store.watch_inbox(self.worker.wake)
        except StoreError as exc:
            log.warning("%s; finding new turns by polling instead", exc)

    async def stop(self) -> None:
        """Stop receiving, finish in-flight answers, stop delivery, close everything."""
        if self._unwatch is not None:
            await self._unwatch()
            self._unwatch = None
        if self.stops is not None:
            await self.stops.stop()
        adapters = [p for p in self._started if p not in self.services]
        for adapter in adapters:
            await adapter.stop()
        if self._working:
            await self.worker.stop()
            await self.dispatcher.stop()
            self._working = False
        for service in [p for p in self._started if p in self.services]:
            await service.stop()
        self._started.clear()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.limiter is not None:
            await self.limiter.close()
        await self.engine.stop()

    async def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Wait until every inbox turn is answered and every outbox row delivered or dead."""
        async with asyncio.timeout(timeout):
            while True:
                open_turns = await self.worker.queue.pending_count()
                undelivered = await self.dispatcher.queue.undelivered_count()
                busy = self.worker.busy or self.dispatcher.busy
                if not open_turns and not undelivered and not busy:
                    return
                await asyncio.sleep(0.05)
