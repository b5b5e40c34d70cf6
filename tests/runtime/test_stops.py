"""Stops across processes: the ingest process stores a STOP turn, the worker stops the answer.

The end-to-end test runs kefu split in two, as ``serve --role ingest`` and ``serve --role
worker`` on one store, with the real Telegram adapter in each and the fake Bot API.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from adapters.telegram.adapter import SECRET_HEADER, TelegramAdapter
from core.answering.answer import Answerer
from core.answering.interrupts import Interrupts
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.turn import Command, ConversationKey, Role
from core.ports import AdapterContext
from core.runtime.runtime import Role as ProcessRole
from core.runtime.runtime import Runtime, RuntimeOptions
from core.runtime.stops import StopWatcher
from core.store.store import Store
from tests.adapters.telegram.conftest import WEBHOOK_SECRET, eventually, webhook_settings
from tests.conftest import make_turn
from tests.fakes.telegram_server import FakeTelegramServer

KEY = ConversationKey("telegram", "42")


async def test_the_watcher_stops_answers_with_a_stored_stop(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    try:
        interrupts = Interrupts()
        watcher = StopWatcher(store, interrupts)
        aborted: list[bool] = []

        async def abort() -> None:
            aborted.append(True)

        assert await watcher.check() == 0  # nothing written: not even a query
        await store.put(make_turn("", chat="43", platform="telegram", command=Command.STOP))
        with interrupts.watch(KEY, abort) as watch:
            assert await watcher.check() == 0  # a stop in another chat
            await store.put(make_turn("", chat="42", platform="telegram", command=Command.STOP))
            assert await watcher.check() == 1
            assert watch.stopped and aborted == [True]
    finally:
        await store.close()


class SlowEngine(StubEngine):
    def __init__(self) -> None:
        super().__init__(lambda _r: " ".join(["word"] * 300), token_delay_s=0.02)
        self.aborted: list[str] = []

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
        await super().abort(request_id)


def _runtime(role: ProcessRole, store: Store, settings: Any, engine: SlowEngine) -> Runtime:
    app = web.Application()
    interrupts = Interrupts()
    context = AdapterContext(inbox=store, web=app, receive=role is ProcessRole.INGEST,
                             stops=interrupts)  # fmt: skip
    adapter = TelegramAdapter(context, settings)
    brain = PromptBrain()
    answerer = Answerer(store, engine, {Role.CUSTOMER: brain, Role.STAFF: brain},
                        {"telegram": adapter}, interrupts=interrupts)  # fmt: skip
    options = RuntimeOptions(poll_interval_s=0.05, delivery_schedule_s=(0.2, 0.5), role=role)
    return Runtime(store, engine, answerer, {"telegram": adapter}, options, web_app=app)


async def test_a_stop_received_by_the_ingest_process_stops_the_worker() -> None:
    async with FakeTelegramServer() as tg:
        await _split(tg)


async def _split(tg: FakeTelegramServer) -> None:
    with tempfile.TemporaryDirectory(prefix="kefu-split-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'kefu.db'}"
        settings = webhook_settings(tg, album_journal_path=str(Path(folder) / "a.db"),
                                    draft_interval_s=0.1)  # fmt: skip
        ingest_store, worker_store = await Store.open(url), await Store.open(url)
        engine = SlowEngine()
        ingest = _runtime(ProcessRole.INGEST, ingest_store, settings, engine)
        worker = _runtime(ProcessRole.WORKER, worker_store, settings, engine)
        await ingest.start()
        await worker.start()
        try:
            async with aiohttp.ClientSession(headers={SECRET_HEADER: WEBHOOK_SECRET}) as http:
                hook = f"{ingest.base_url}/telegram/webhook"
                await http.post(hook, json=tg.updates.text("write an essay"))
                await eventually(lambda: any(len(d.texts) >= 3 for d in tg.chat_drafts(42)), 10)
                (draft,) = tg.chat_drafts(42)
                assert (await http.post(hook, json=tg.press_stop(42, draft.draft_id))).status == 200
                await eventually(lambda: bool(engine.aborted), 10)
                await worker.wait_until_idle(20)
            assert engine.aborted == [engine.requests[0].request_id]
            assert tg.chat_messages(42) == []  # nothing more was sent
            assert draft.calls_after_stop == 0
        finally:
            await worker.stop()
            await ingest.stop()
            await worker_store.close()
            await ingest_store.close()
