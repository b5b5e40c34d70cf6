"""Serve kefu's OpenAI API on 127.0.0.1:18765 with a scripted stub engine (for the litellm check)."""

import asyncio
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from aiohttp import web

from core.api.access import AccessOptions
from core.api.routes import ServiceOptions
from core.api.serving import build_service_app
from core.engines.stub import StubEngine


def answer(request):
    system = request.messages[0].content_text if request.messages[0].role == "system" else ""
    if "<tools>" in system:
        return '<tool_call>\n{"name": "get_order", "arguments": {"order_no": "SO20261102-0042"}}\n</tool_call>'
    if "JSON" in system:
        return '{"product": "Oxford shirt", "price": 199}'
    return "Plain answer."


async def main():
    runner = web.AppRunner(
        build_service_app(StubEngine(answer), ServiceOptions(AccessOptions(open_inference=True)))
    )
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 18765).start()
    print("ready", flush=True)
    await asyncio.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 120)
    await runner.cleanup()


asyncio.run(main())
