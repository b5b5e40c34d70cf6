"""The server side of ``bench/edge.py``: a whole kefu in its own process.

The API (with a metrics token), and the webhook, Telegram (webhook mode) and Slack adapters
receiving, against the recording fakes in ``tests/fakes`` (which host the 40 MP photo for
the Telegram and Slack downloads). One :class:`ImageDecoder` for the process, as
``main.py serve`` builds it. Prints one JSON line with what the client needs, then serves
until its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from adapters.slack.adapter import SlackAdapter
from adapters.telegram.adapter import TelegramAdapter
from adapters.webhook.adapter import WebhookAdapter
from bench._ack_probe import AckProbe, wrap_batch_writer
from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.api.serving import mount_api
from core.engines.stub import StubEngine
from core.media.images import ImageDecoder
from core.ports import Adapter, AdapterContext
from core.runtime.heap import settle_heap
from core.runtime.runtime import Runtime
from core.store.store import Store
from tests.adapters.slack.conftest import slack_settings
from tests.adapters.telegram.conftest import webhook_settings
from tests.adapters.webhook.conftest import make_settings
from tests.fakes.slack_server import FakeSlack
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import KefuHarness

ACCESS = AccessOptions(api_key="bench-inference", metrics_token="bench-metrics")


class LoopLag:
    """How late a 10 ms timer fires on the server's event loop (what blocking costs)."""

    def __init__(self) -> None:
        self.late: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.late.append(loop.time() - due)

    async def report(self, _request: web.Request) -> web.Response:
        """``GET /bench/loop-lag``: p50/p99/max lateness since the last call, then reset."""
        late, self.late = sorted(self.late), []
        if not late:
            return web.json_response({})
        pick = lambda q: round(late[min(len(late) - 1, int(len(late) * q))] * 1000, 1)  # noqa: E731
        return web.json_response({"ticks": len(late), "p50_ms": pick(0.5), "p99_ms": pick(0.99),
                                  "max_ms": round(late[-1] * 1000, 1)})  # fmt: skip


class EdgeKefu(KefuHarness):
    """A harness wired like ``serve``: the API mounted, one image decoder for everything."""

    def __init__(
        self, decoder: ImageDecoder, lag: LoopLag, probe: AckProbe, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.decoder = decoder
        self.lag = lag
        self.probe = probe

    def build_adapters(self, store: Store, app: web.Application) -> dict[str, Adapter]:  # type: ignore[type-arg]
        context = AdapterContext(inbox=store, web=app, stops=self.interrupts, images=self.decoder)
        return {name: factory(context) for name, factory in self._adapters.items()}

    def build_runtime(self, store: Store, app: web.Application) -> Runtime:
        mount_api(app, self.engine, ServiceOptions(ACCESS, image_decoder=self.decoder), store)
        app.router.add_get("/bench/loop-lag", self.lag.report)
        self.probe.install(app)
        committer = store._committer
        if committer is not None:
            committer.write_many = wrap_batch_writer(self.probe, committer.write_many)
        return super().build_runtime(store, app)


async def serve(data: bytes, threads: int, memory_mb: int, processes: bool) -> None:
    decoder = ImageDecoder(threads, memory_mb << 20, processes)
    with tempfile.TemporaryDirectory(prefix="kefu-edge-") as tmp:
        async with FakeTelegramServer() as tg, FakeSlack() as slack:
            tg.add_file("big-photo", data)
            slack_file = slack.add_file(data, "big.png")
            journal = str(Path(tmp) / "albums.db")
            adapters = {
                "webhook": lambda c: WebhookAdapter(c, make_settings(max_body_bytes=40 << 20)),
                "telegram": lambda c: TelegramAdapter(
                    c, webhook_settings(tg, album_journal_path=journal, max_file_bytes=20 << 20)
                ),
                "slack": lambda c: SlackAdapter(c, slack_settings(slack)),
            }
            lag = LoopLag()
            kefu = EdgeKefu(
                decoder, lag, AckProbe(), engine=StubEngine(), adapters=adapters, store_url=None
            )
            async with kefu:
                settle_heap()
                ticker = asyncio.create_task(lag.run())
                if os.environ.get("KEFU_BENCH_SLOW"):  # name the callbacks that block the loop
                    loop = asyncio.get_running_loop()
                    loop.set_debug(True)
                    loop.slow_callback_duration = 0.03
                ready = {"base_url": kefu.base_url, "slack_file": slack_file}
                print(json.dumps(ready), flush=True)
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
                ticker.cancel()
    decoder.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    photo, threads, memory_mb, where = sys.argv[1:5]
    asyncio.run(serve(Path(photo).read_bytes(), int(threads), int(memory_mb), where == "processes"))
