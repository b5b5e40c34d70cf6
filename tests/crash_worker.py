"""A kefu worker process for the kill -9 test: answers turns and logs deliveries to a file.

    python -m tests.crash_worker STORE_URL DELIVERY_LOG

The "platform" is an append-only file; each line is one delivery with its outbox and
turn id, flushed and fsynced before the dispatcher marks the row delivered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import ClassVar

from core.answering.answer import Answerer
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.turn import Reply, Role, Turn
from core.ports import Adapter, AdapterContext, Capabilities, DeliveryReceipt, OutboundMessage
from core.runtime.runtime import Runtime, RuntimeOptions
from core.store.store import Store


class FileSinkAdapter(Adapter[Turn, str]):
    name: ClassVar[str] = "sink"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, context: AdapterContext, path: str) -> None:
        super().__init__(context)
        self.path = path

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def to_turn(self, raw: Turn) -> Turn:
        return raw

    def to_platform(self, reply: Reply) -> list[str]:
        return [reply.text]

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        line = json.dumps(
            {
                "outbox_id": message.outbox_id,
                "turn_id": message.turn_id,
                "text": message.reply.text,
                "pid": os.getpid(),
            }
        )
        await asyncio.to_thread(self._append, line)
        return DeliveryReceipt((str(message.outbox_id),))

    def _append(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as sink:
            sink.write(line + "\n")
            sink.flush()
            os.fsync(sink.fileno())


async def main(url: str, log_path: str) -> None:
    store = await Store.open(url)
    brain = PromptBrain()
    engine = StubEngine(token_delay_s=0.01)
    answerer = Answerer(store, engine, {Role.CUSTOMER: brain, Role.STAFF: brain})
    runtime = Runtime(
        store,
        engine,
        answerer,
        {"sink": FileSinkAdapter(AdapterContext(inbox=store), log_path)},
        RuntimeOptions(
            serve_http=False,
            worker_concurrency=8,
            lease_s=1.0,
            delivery_lease_s=1.0,
            poll_interval_s=0.05,
        ),
    )
    await runtime.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runtime.stop()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
