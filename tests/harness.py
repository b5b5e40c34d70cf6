"""End-to-end harness: the real store, worker, dispatcher and HTTP server around adapters.

Usage::

    async with KefuHarness(engine=StubEngine(), adapters={"telegram": make_adapter}) as kefu:
        ...drive requests at kefu.base_url...
        await kefu.wait_until_idle(timeout=20)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from core.answering.answer import Answerer, AnswerSettings
from core.answering.bot import BotBrain
from core.answering.prompt_brain import PromptBrain
from core.engines.base import Engine
from core.engines.stub import StubEngine
from core.model.turn import Role
from core.ports import Adapter, AdapterContext
from core.runtime.limits import RateLimiter
from core.runtime.runtime import Runtime, RuntimeOptions, stream_openers
from core.store.store import Store

AdapterFactory = Callable[[AdapterContext], Adapter]  # type: ignore[type-arg]


class KefuHarness:
    """Starts a whole kefu on 127.0.0.1 (port 0) with a temporary SQLite store.

    Args:
        engine: Engine to answer with (default: instant StubEngine).
        adapters: Adapter factories per platform name.
        brains: Brain per role (default: PromptBrain for customers and staff).
        store_url: Use this store instead of a temporary SQLite file.
        delivery_schedule_s: Durable retry schedule (short by default, for tests).
        limiter: Rate limits on answering (none by default).
        options: Other :class:`RuntimeOptions` fields (max_attempts, engine_retry_s, ...).
    """

    def __init__(
        self,
        engine: Engine | None = None,
        adapters: Mapping[str, AdapterFactory] | None = None,
        brains: Mapping[Role, BotBrain] | None = None,
        store_url: str | None = None,
        delivery_schedule_s: tuple[float, ...] = (0.2, 0.5, 1.0),
        answer: AnswerSettings | None = None,
        worker_concurrency: int = 16,
        limiter: RateLimiter | None = None,
        **options: Any,
    ) -> None:
        self.engine = engine or StubEngine()
        self._adapters = dict(adapters or {})
        brain = PromptBrain()
        self._brains = dict(brains or {Role.CUSTOMER: brain, Role.STAFF: brain})
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._store_url = store_url
        self._options = RuntimeOptions(
            poll_interval_s=0.05,
            delivery_schedule_s=delivery_schedule_s,
            answer=answer or AnswerSettings(),
            worker_concurrency=worker_concurrency,
            **options,
        )
        self._limiter = limiter
        self.runtime: Runtime | None = None
        self.store: Store | None = None

    async def __aenter__(self) -> KefuHarness:
        if self._store_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kefu-test-")
            self._store_url = f"sqlite+aiosqlite:///{Path(self._tmp.name) / 'kefu.db'}"
        self.store = await Store.open(self._store_url)
        self.runtime = self.build_runtime(self.store, web.Application())
        await self.runtime.start()
        return self

    def build_adapters(self, store: Store, app: web.Application) -> dict[str, Adapter]:  # type: ignore[type-arg]
        context = AdapterContext(inbox=store, web=app)
        return {name: factory(context) for name, factory in self._adapters.items()}

    def build_runtime(self, store: Store, app: web.Application) -> Runtime:
        """Wired as ``main.assemble`` wires it (without a handoff service)."""
        adapters = self.build_adapters(store, app)
        answerer = Answerer(
            store, self.engine, self._brains, stream_openers(adapters), self._options.answer
        )
        return Runtime(
            store, self.engine, answerer, adapters, self._options, web_app=app,
            limiter=self._limiter,
        )  # fmt: skip

    async def __aexit__(self, *exc: Any) -> None:
        assert self.runtime is not None and self.store is not None
        await self.runtime.stop()
        await self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def base_url(self) -> str:
        assert self.runtime is not None
        return self.runtime.base_url

    @property
    def adapters(self) -> dict[str, Any]:
        assert self.runtime is not None
        return self.runtime.adapters

    async def wait_until_idle(self, timeout: float = 30.0) -> None:
        assert self.runtime is not None
        await self.runtime.wait_until_idle(timeout)
