"""The bare reference server of the gateway benchmark: parse the JSON body, answer 202.

    python -m bench._gateway_bare

Same aiohttp version, same ``AppRunner`` setup and the same route shape as kefu's webhook
adapter, and nothing else: no signature check, no validation, no store. It prints
``{"port": N}`` on its first stdout line and serves on 127.0.0.1 until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import signal

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    await request.json()
    return web.json_response({"accepted": True}, status=202)


async def serve() -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/webhooks/{source}", accept)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
