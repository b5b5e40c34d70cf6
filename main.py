"""kefu's command line and only composition root.

python main.py serve     # everything configured: core service + adapters + worker
python main.py core      # the OpenAI-compatible inference service alone
python main.py chat      # talk to the bot in the terminal (/image PATH, /reset, /export)
python main.py export KEY [--out FILE]   # a conversation as JSON
"""

from __future__ import annotations

import os

# Spinning OpenMP threads stall torch when another process holds a core (measured 3-10x
# slower on a shared 2-core host); passive waiting costs nothing when the machine is quiet.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from config.settings import Settings, load_settings
from core.errors import ConfigError, KefuError

log = logging.getLogger("kefu")


def _progress(message: str) -> None:
    print(f"[kefu] {message}", file=sys.stderr, flush=True)


_OCR: dict[str, object] = {}


def shared_ocr(settings: Settings):  # type: ignore[no-untyped-def]
    """One OCR reader per process, shared by the engine wrapper and the bot brains."""
    from core.engines.factory import build_ocr_reader

    if "reader" not in _OCR:
        _OCR["reader"] = build_ocr_reader(settings.ocr)
    return _OCR["reader"]


def build_engine(settings: Settings):  # type: ignore[no-untyped-def]
    from core.engines.factory import build_engine as factory

    return factory(
        settings.engine,
        ocr=shared_ocr(settings),
        progress=_progress,
        max_chars_per_image=settings.ocr.max_chars_per_image,
    )


def build_brains(settings: Settings):  # type: ignore[no-untyped-def]
    from bots.loader import load_brains

    return load_brains(settings, shared_ocr(settings))


def image_limits(settings: Settings):  # type: ignore[no-untyped-def]
    from core.media.images import ImageLimits

    return ImageLimits(
        settings.images.max_bytes, settings.images.max_pixels, settings.images.target_pixels
    )


def build_adapter_factories(settings: Settings) -> dict:  # type: ignore[type-arg]
    """Adapters whose credentials are present (a token or a webhook source), from the registry."""
    from adapters.registry import load_adapter_class

    limits = image_limits(settings)
    wanted = {
        "telegram": (settings.telegram, settings.telegram.enabled and settings.telegram.bot_token),
        "slack": (settings.slack, settings.slack.enabled and settings.slack.bot_token),
        "webhook": (settings.webhook, settings.webhook.enabled and settings.webhook.sources),
    }
    factories = {}
    for name, (section, present) in wanted.items():
        if present:
            cls = load_adapter_class(name)
            factories[name] = lambda ctx, c=cls, s=section: c(ctx, s, image_limits=limits)
    return factories


def service_options(settings: Settings):  # type: ignore[no-untyped-def]
    from core.api.routes import ServiceOptions

    key = settings.service.api_key.get_secret_value() if settings.service.api_key else None
    return ServiceOptions(
        api_key=key,
        allow_remote_images=settings.service.allow_remote_images,
        max_remote_image_bytes=settings.service.max_remote_image_bytes,
        default_max_tokens=settings.engine.max_new_tokens,
        image_limits=image_limits(settings),
    )


def runtime_options(settings: Settings, *, serve_http: bool = True, role: str = "all"):  # type: ignore[no-untyped-def]
    from core.answering.answer import AnswerSettings
    from core.runtime.runtime import RuntimeOptions

    return RuntimeOptions(
        host=settings.service.host,
        port=settings.service.port,
        worker_concurrency=settings.worker.concurrency,
        lease_s=settings.worker.lease_s,
        poll_interval_s=settings.worker.poll_interval_s,
        delivery_schedule_s=tuple(settings.worker.delivery_retry_schedule_s),
        answer=AnswerSettings(
            history_rounds=settings.bot.history_rounds,
            max_new_tokens=settings.engine.max_new_tokens,
            handoff_wait_minutes=settings.handoff.expected_wait_minutes,
        ),
        serve_http=serve_http,
        role=role,
    )


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "role": "ingest"})


async def serve(settings: Settings, role: str = "all") -> None:
    """Run the core service, every configured adapter, the worker and the dispatcher.

    Args:
        settings: kefu settings.
        role: ``all`` in one process, or ``ingest`` / ``worker`` to run receiving and
            answering as separate processes against the same store.
    """
    from core.api.export import add_export_route
    from core.api.routes import add_service_routes
    from core.handoff.service import HandoffService
    from core.runtime.heap import settle_heap
    from core.runtime.runtime import Runtime
    from core.store.store import Store

    store = await Store.open(settings.store.url)
    engine = build_engine(settings)
    app = web.Application(client_max_size=settings.service.max_body_bytes)
    options = service_options(settings)
    if role == "ingest":
        app.router.add_get("/healthz", _healthz)  # no model here: the worker has it
    else:
        add_service_routes(app, engine, options)
    add_export_route(app, store, options.api_key)
    factories = build_adapter_factories(settings)
    handoff = None
    if settings.handoff.enabled and (settings.handoff.target == "webhook" or "slack" in factories):
        from adapters.handoff_desks import build_desks

        handoff = HandoffService(
            store,
            settings.handoff,
            slack_channel=settings.slack.staff_channel,
            desks=build_desks(settings.handoff),
        )
        factories["handoff"] = handoff.adapter_factory
    runtime = Runtime(
        store,
        engine,
        build_brains(settings),
        factories,
        runtime_options(settings, role=role),
        web_app=app,
    )
    if handoff is not None:
        handoff.bind(runtime)
    await runtime.start()
    settle_heap()
    _progress(f"serving on {runtime.base_url} (adapters: {', '.join(runtime.adapters) or 'none'})")
    try:
        await _wait_for_signal()
    finally:
        await runtime.stop()
        await store.close()


async def core_service(settings: Settings) -> None:
    """Run only the OpenAI-compatible inference service."""
    from core.api.routes import build_service_app

    engine = build_engine(settings)
    await engine.start()
    runner = web.AppRunner(build_service_app(engine, service_options(settings)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.service.host, settings.service.port).start()
    _progress(f"core service on http://{settings.service.host}:{settings.service.port}/v1")
    try:
        await _wait_for_signal()
    finally:
        await runner.cleanup()
        await engine.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kefu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="run everything configured")
    serve_parser.add_argument(
        "--role",
        choices=("all", "ingest", "worker"),
        default="all",
        help="all in one process (default), or receiving (ingest) and answering (worker) "
        "as separate processes on the same store",
    )
    core_parser = sub.add_parser("core", help="run the OpenAI-compatible inference service alone")
    core_parser.add_argument("--port", type=int)
    chat_parser = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat_parser.add_argument("--chat-id", default="local")
    export_parser = sub.add_parser("export", help="export a conversation as JSON")
    export_parser.add_argument("key", help="platform|chat_id|thread_id, e.g. 'terminal|local|'")
    export_parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if args.command == "serve":
            asyncio.run(serve(settings, args.role))
        elif args.command == "core":
            if args.port:
                settings.service.port = args.port
            asyncio.run(core_service(settings))
        elif args.command == "chat":
            from adapters.terminal.chat import run_chat

            asyncio.run(
                run_chat(
                    settings,
                    build_engine(settings),
                    build_brains(settings),
                    runtime_options(settings, serve_http=False),
                    args.chat_id,
                )
            )
        elif args.command == "export":
            from core.store.export import export_conversation_from_url

            data = asyncio.run(export_conversation_from_url(settings.store.url, args.key))
            text = json.dumps(data, ensure_ascii=False, indent=2)
            if args.out:
                args.out.write_text(text, encoding="utf-8")
            else:
                print(text)
    except (ConfigError, KefuError) as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
