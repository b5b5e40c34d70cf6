"""Runs the spine: store, engine, worker, dispatcher, adapters and the shared HTTP server.

:class:`Runtime` wires already-built parts together and owns their lifecycle; building
them from settings is ``main.py``'s job (the only composition root).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from adapters.base import Adapter, AdapterContext
from core.answering.answer import Answerer, AnswerSettings
from core.answering.bot import BotBrain
from core.engines.base import Engine
from core.errors import StoreError
from core.model.turn import Role
from core.runtime.dispatcher import Dispatcher
from core.runtime.worker import Worker
from core.store.store import Store

log = logging.getLogger(__name__)

AdapterFactory = Callable[[AdapterContext], Adapter]  # type: ignore[type-arg]


@dataclass
class RuntimeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    worker_concurrency: int = 16
    lease_s: float = 60.0
    delivery_lease_s: float = 15.0
    poll_interval_s: float = 0.5
    delivery_schedule_s: tuple[float, ...] = (1, 5, 30, 120)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    serve_http: bool = True
    # "all" runs everything in one process. "ingest" receives platform traffic and stores
    # turns (no model, no worker), so acks never wait behind answering; "worker" answers
    # and delivers (no HTTP server, no receiving). Run one of each against the same store.
    role: Literal["all", "ingest", "worker"] = "all"


class Runtime:
    """Lifecycle owner of a running kefu.

    Args:
        store: Opened store.
        engine: Engine (started by :meth:`start`).
        brains: Brain per sender role.
        adapter_factories: Adapter per platform name.
        options: Ports, concurrency, retry schedule.
        web_app: An application to serve (the core service routes may already be on it).
    """

    def __init__(
        self,
        store: Store,
        engine: Engine,
        brains: Mapping[Role, BotBrain],
        adapter_factories: Mapping[str, AdapterFactory],
        options: RuntimeOptions | None = None,
        web_app: web.Application | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.options = options or RuntimeOptions()
        self.web = web_app or web.Application(client_max_size=64 * 1024 * 1024)
        self.adapters: dict[str, Adapter] = {}  # type: ignore[type-arg]
        for name, factory in adapter_factories.items():
            context = AdapterContext(
                inbox=store, web=self.web, retry_schedule=self.options.delivery_schedule_s
            )
            self.adapters[name] = factory(context)
        self.answerer = Answerer(store, engine, brains, self._stream_opener, self.options.answer)
        self.dispatcher = Dispatcher(
            store,
            self.adapters,
            self.options.delivery_schedule_s,
            poll_interval_s=self.options.poll_interval_s,
            lease_s=self.options.delivery_lease_s,
        )
        self.worker = Worker(
            store,
            self.answerer,
            concurrency=self.options.worker_concurrency,
            lease_s=self.options.lease_s,
            poll_interval_s=self.options.poll_interval_s,
            on_completed=self.dispatcher.wake,
        )
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unwatch: Callable[[], Awaitable[None]] | None = None
        self.base_url = ""

    def _stream_opener(self, platform: str) -> Adapter | None:  # type: ignore[type-arg]
        adapter = self.adapters.get(platform.split(":")[0])
        if adapter is None or not adapter.capabilities.streaming:
            return None
        return adapter

    async def start(self) -> None:
        """Load the engine, initialise adapters, serve HTTP, start receiving and working."""
        role = self.options.role
        if role != "ingest":
            await self.engine.start()
        for adapter in self.adapters.values():
            await adapter.initialize()
        if self.options.serve_http and role != "worker":
            self._runner = web.AppRunner(self.web, handle_signals=False, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.options.host, self.options.port)
            await site.start()
            port = self._runner.addresses[0][1]
            self.base_url = f"http://{self.options.host}:{port}"
        for adapter in self.adapters.values():
            if role == "all" or (role == "ingest") == adapter.receives:
                await adapter.start()
        if role == "worker":
            await self._watch_inbox()
        if role != "ingest":
            self._tasks = [
                asyncio.create_task(self.worker.run(), name="kefu-worker"),
                asyncio.create_task(self.dispatcher.run(), name="kefu-dispatcher"),
            ]

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
        for adapter in self.adapters.values():
            await adapter.shutdown()
        if self._tasks:
            await self.worker.stop()
            await self.dispatcher.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.worker.close()
        await self.dispatcher.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.engine.close()

    async def wait_until_idle(self, timeout: float = 30.0) -> None:
        """Wait until every inbox turn is answered and every outbox row delivered or dead."""
        async with asyncio.timeout(timeout):
            while True:
                open_turns = await self.worker.queue.pending_count()
                undelivered = await self.dispatcher.queue.undelivered_count()
                if not open_turns and not undelivered and not self.worker._tasks:
                    return
                await asyncio.sleep(0.05)
