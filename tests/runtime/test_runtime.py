"""Runtime roles: one process for everything, or ingest and worker processes on one store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

import pytest

from core.answering.answer import Answerer
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.turn import Reply, Role, Turn
from core.ports import Adapter, AdapterContext, Capabilities, DeliveryReceipt, OutboundMessage
from core.runtime.runtime import Role as ProcessRole
from core.runtime.runtime import Runtime, RuntimeOptions
from core.store.store import Store
from tests.conftest import make_turn


class RecordingAdapter(Adapter[Turn, str]):
    name: ClassVar[str] = "rec"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, context: AdapterContext, log: list[str]) -> None:
        super().__init__(context)
        self.log = log
        self.receiving = False

    async def start(self) -> None:
        self.receiving = self.context.receive

    async def stop(self) -> None:
        return None

    def to_turn(self, raw: Turn) -> Turn:
        return raw

    def to_platform(self, reply: Reply) -> list[str]:
        return [reply.text]

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        self.log.append(message.reply.text)
        return DeliveryReceipt()


class CountingEngine(StubEngine):
    starts = 0

    async def start(self) -> None:
        CountingEngine.starts += 1


def _runtime(
    store: Store,
    role: ProcessRole,
    log: list[str],
    holder: dict[ProcessRole, RecordingAdapter],
    poll_interval_s: float = 0.05,
) -> Runtime:
    context = AdapterContext(inbox=store, receive=role is not ProcessRole.WORKER)
    holder[role] = RecordingAdapter(context, log)
    engine = CountingEngine()
    answerer = Answerer(store, engine, {Role.CUSTOMER: PromptBrain()})
    options = RuntimeOptions(role=role, poll_interval_s=poll_interval_s)
    return Runtime(store, engine, answerer, {"rec": holder[role]}, options)


async def test_ingest_and_worker_processes_share_the_store(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"
    ingest_store, worker_store = await Store.open(url), await Store.open(url)
    log: list[str] = []
    adapters: dict[ProcessRole, RecordingAdapter] = {}
    CountingEngine.starts = 0
    ingest = _runtime(ingest_store, ProcessRole.INGEST, log, adapters)
    worker = _runtime(worker_store, ProcessRole.WORKER, log, adapters)
    await ingest.start()
    await worker.start()
    try:
        assert ingest.base_url and not worker.base_url  # only ingest serves HTTP
        assert CountingEngine.starts == 1  # only the worker loads the model
        assert adapters[ProcessRole.INGEST].receiving and not adapters[ProcessRole.WORKER].receiving
        for index in range(5):
            await ingest_store.put(make_turn(f"q{index}", chat=f"c{index}", platform="rec"))
        await asyncio.sleep(0.3)
        await worker.wait_until_idle(10)
    finally:
        await ingest.stop()
        await worker.stop()
        await ingest_store.close()
        await worker_store.close()
    assert sorted(log) == [f"Echo: q{i}" for i in range(5)]


@pytest.mark.postgres
async def test_on_postgresql_the_worker_process_is_woken_by_notify_not_by_polling(
    store_url: str,
) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite cannot notify another process; its worker polls")
    ingest_store, worker_store = await Store.open(store_url), await Store.open(store_url)
    log: list[str] = []
    adapters: dict[ProcessRole, RecordingAdapter] = {}
    ingest = _runtime(ingest_store, ProcessRole.INGEST, log, adapters)
    worker = _runtime(worker_store, ProcessRole.WORKER, log, adapters, poll_interval_s=60)
    await ingest.start()
    await worker.start()
    try:
        await asyncio.sleep(0.2)  # the worker's first poll is behind it; the next is a minute away
        started = asyncio.get_running_loop().time()
        await ingest_store.put(make_turn("hello", chat="n1", platform="rec"))
        while not log and asyncio.get_running_loop().time() - started < 10:
            await asyncio.sleep(0.01)
        waited = asyncio.get_running_loop().time() - started
    finally:
        await ingest.stop()
        await worker.stop()
        await ingest_store.close()
        await worker_store.close()
    assert log == ["Echo: hello"] and waited < 2
