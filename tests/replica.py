"""One kefu ``serve`` replica for the fault suite: built by ``main.assemble`` from the
environment's settings, exactly as ``main.py serve`` builds it, except that both roles get
the generic prompt brain (answers are echoes of the remote stub engine, so the suite can
match every reply to its message).

    python -m tests.replica        # settings from KEFU_* variables; prints "ready <url>"
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

import main
from core.answering.prompt_brain import PromptBrain
from core.api.serving import mount_api
from core.model.turn import Role
from core.store.store import Store


async def run() -> None:
    settings = main.load_settings()
    store = await Store.open(settings.store.url)
    engine = main.build_engine(settings, main.ocr_reader(settings))
    app = web.Application(client_max_size=settings.service.max_body_bytes)
    mount_api(app, engine, main.service_options(settings), store)
    brain = PromptBrain()
    runtime = main.assemble(settings, store, engine, {Role.CUSTOMER: brain, Role.STAFF: brain}, app)
    await runtime.start()
    print("ready", runtime.base_url, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runtime.stop()
    await store.close()


if __name__ == "__main__":
    asyncio.run(run())
