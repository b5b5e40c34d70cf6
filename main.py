"""kefu's command line and only composition root.

python main.py serve     # everything configured: core service + adapters + worker
python main.py core      # the OpenAI-compatible inference service alone
python main.py chat      # talk to the bot in the terminal (/image PATH, /reset, /export)
python main.py export KEY [--out FILE]   # a conversation as JSON
python main.py deadletters list|replay [REF ...] [--all]   # failed turns, undeliverable replies
python main.py feedback export FILE [--since DAY] [--until DAY]   # staff feedback as eval cases
python main.py knowledge check DIR [--date DAY] | import shopify|woocommerce CSV | migrate DIR NEW

Every part is built here, by its constructor, from the settings; nothing is re-bound
afterwards. ``config/`` reads settings, ``core/`` takes plain options, and the platform
registry (``adapters/registry.py``) says which adapters and staff desks exist.
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["knowledge"]:
    # The shop owner's knowledge tools need no model, store or network: run them before
    # those are imported (fast, and usable where no model is installed).
    from core.knowledge.cli import main as knowledge_main

    sys.exit(knowledge_main(sys.argv[2:]))

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pydantic_settings import SettingsError as EnvironmentSettingsError

from adapters import registry
from cli import store_tools
from cli.options import (
    engine_options,
    handoff_options,
    image_decoder,
    image_limits,
    ocr_reader,
    runtime_options,
    secret_values,
    service_options,
)
from cli.parser import build_parser
from config.settings import Settings, SettingsError
from config.settings import load_settings as read_settings
from core.answering.answer import Answerer
from core.answering.bot import BotBrain, ShopContact
from core.answering.interrupts import Interrupts
from core.answering.meter import ThroughputMeter
from core.api.serving import build_service_app, mount_api
from core.engines.base import Engine
from core.errors import ConfigError, DeskUnavailableError, KefuError
from core.handoff.desk import StaffDesk
from core.handoff.relay import DESK_PLATFORM
from core.handoff.service import HandoffService
from core.knowledge import cli as knowledge_cli
from core.media.images import ImageDecoder
from core.media.ocr import OcrReader
from core.model.turn import Role
from core.ports import Adapter, AdapterContext, Bell
from core.redaction import install_redaction
from core.runtime.limits import Limits, MemoryLimiter, Rate, RateLimiter, RedisLimiter
from core.runtime.runtime import Role as ProcessRole
from core.runtime.runtime import Runtime, stream_openers
from core.store.held import HeldTurns
from core.store.store import Store

log = logging.getLogger("kefu")


def _progress(message: str) -> None:
    print(f"[kefu] {message}", file=sys.stderr, flush=True)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the YAML file.

    Raises:
        ConfigError: the file is missing, unreadable or holds a secret, or a setting is
            wrong (every problem listed, without a traceback).
    """
    try:
        return read_settings(**overrides)
    except (SettingsError, EnvironmentSettingsError) as exc:
        raise ConfigError(str(exc)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def build_engine(settings: Settings, ocr: OcrReader) -> Engine:
    from core.engines.factory import build_engine as factory

    return factory(
        engine_options(settings),
        ocr=ocr,
        progress=_progress,
        max_chars_per_image=settings.ocr.max_chars_per_image,
    )


def build_brains(settings: Settings, ocr: OcrReader) -> dict[Role, BotBrain]:
    from bots.loader import load_brains

    return load_brains(settings, ocr)


def shop_contact(brains: Mapping[Role, BotBrain]) -> ShopContact | None:
    """The customer brain, when it knows the shop's contact (told when no desk is reachable)."""
    brain = brains.get(Role.CUSTOMER)
    return brain if isinstance(brain, ShopContact) else None


def build_limiter(settings: Settings) -> RateLimiter | None:
    """Rate limits on answering: in Redis when ``limits.redis_url`` is set (shared by every
    replica), else in this process; None when ``limits.enabled`` is off."""
    limits = settings.limits
    if not limits.enabled:
        return None
    rates = Limits(
        Rate(limits.customer_per_minute, limits.customer_burst),
        Rate(limits.platform_per_minute, limits.platform_burst),
    )
    return RedisLimiter(limits.redis_url, rates) if limits.redis_url else MemoryLimiter(rates)


# -- platforms ------------------------------------------------------------------------------


def build_adapters(settings: Settings, context: AdapterContext) -> dict[str, Adapter]:  # type: ignore[type-arg]
    """Every registered platform whose settings are configured (credentials present)."""
    adapters: dict[str, Adapter] = {}  # type: ignore[type-arg]
    for entry in registry.PLATFORMS:
        section = settings.platform(entry.name)
        if section.configured:
            adapters[entry.name] = entry.adapter_class()(context, section)
    return adapters


def build_desks(
    settings: Settings,
    adapters: Mapping[str, Adapter],  # type: ignore[type-arg]
) -> list[StaffDesk]:
    """The staff desk ``handoff.target`` names; none when handoffs are off or its platform
    is not running.

    Raises:
        ConfigError: no such target, or its desk is misconfigured.
    """
    handoff = settings.handoff
    if not handoff.enabled:
        return []
    try:
        entry = registry.platform(handoff.target)
    except KeyError:
        raise ConfigError(f"handoff: no platform named {handoff.target!r}") from None
    builder = entry.desk_builder()
    if builder is None:
        raise ConfigError(f"handoff: {handoff.target} has no staff desk")
    try:
        desk: StaffDesk = builder(adapters.get(entry.name), settings.platform(entry.name), handoff)
        if desk.target == "web" and not operator_token(settings):
            raise DeskUnavailableError("handoff: nobody can open the web desk without a token")
    except DeskUnavailableError as exc:
        log.warning("%s: customers who need a person are given the shop's contact", exc)
        return []
    return [desk]


def operator_token(settings: Settings) -> str | None:
    token = settings.service.operator_token
    return token.get_secret_value() if token and token.get_secret_value() else None


def assemble(
    settings: Settings,
    store: Store,
    engine: Engine,
    brains: Mapping[Role, BotBrain],
    app: web.Application,
    role: ProcessRole = ProcessRole.ALL,
    decoder: ImageDecoder | None = None,
) -> Runtime:
    """Build every part ``serve`` runs, by their constructors, and the runtime that owns them."""
    # One registry of the answers being written: adapters report stop buttons to it, and
    # the answerer registers each answer's engine request in it.
    interrupts = Interrupts()
    context = AdapterContext(
        shared=store.shared,  # what every replica sees: Slack threads, album photos, previews
        inbox=store, web=app, receive=role is not ProcessRole.WORKER,
        image_limits=image_limits(settings), stops=interrupts, conversations=store,
        images=decoder or image_decoder(settings),
        held=HeldTurns(store.db, store.notify_new_turns),  # Slack files slower than the ack
    )  # fmt: skip
    adapters = build_adapters(settings, context)
    desks = build_desks(settings, adapters)
    meter = ThroughputMeter()
    if "web" in adapters:
        from adapters.web.console import mount_console

        mount_console(
            settings, operator_token(settings), store, engine, brains, adapters["web"], meter
        )
    outbox = Bell()
    handoff = HandoffService(store, desks, outbox, handoff_options(settings)) if desks else None
    answerer = Answerer(
        store,
        engine,
        brains,
        stream_openers(adapters),
        runtime_options(settings).answer,
        desks,
        interrupts,
        shop_contact(brains),
        meter,
    )
    return Runtime(
        store,
        engine,
        answerer,
        adapters,
        runtime_options(settings, role=role),
        web_app=app,
        deliverers={DESK_PLATFORM: handoff} if handoff else None,
        services=(handoff,) if handoff else (),
        on_answered=(handoff.wake,) if handoff else (),
        outbox=outbox,
        limiter=build_limiter(settings) if role is not ProcessRole.INGEST else None,
    )


# -- commands -------------------------------------------------------------------------------


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(settings: Settings, role: ProcessRole = ProcessRole.ALL) -> None:
    """Run the core service, every configured adapter, the worker and the dispatcher.

    Args:
        settings: kefu settings.
        role: everything in one process, or receiving (ingest) and answering (worker) as
            separate processes against the same store.
    """
    from core.runtime.heap import settle_heap

    store = await Store.open(settings.store.url)
    ocr = ocr_reader(settings)
    engine = build_engine(settings, ocr)
    app = web.Application(client_max_size=settings.service.max_body_bytes)
    # No model in the ingest role: the worker has it.
    serving_engine = None if role is ProcessRole.INGEST else engine
    decoder = image_decoder(settings)
    mount_api(app, serving_engine, service_options(settings, decoder), store)
    brains = build_brains(settings, ocr)
    runtime = assemble(settings, store, engine, brains, app, role, decoder)
    try:
        await runtime.start()
    except BaseException:
        # A port in use, a platform refusing the token: stop what did start (the engine's
        # thread, an adapter's journal) so the process exits instead of hanging.
        await runtime.stop()
        await store.close()
        raise
    settle_heap()
    _progress(f"serving on {runtime.base_url} (adapters: {', '.join(runtime.adapters) or 'none'})")
    if "web" in runtime.adapters and role is not ProcessRole.WORKER:
        _progress(f"chat: {runtime.base_url}/   operator desk: {runtime.base_url}/ops")
    try:
        await _wait_for_signal()
    finally:
        await runtime.stop()
        await store.close()
        decoder.close()  # its decoding processes end with the server


async def core_service(settings: Settings, port: int | None = None) -> None:
    """Run only the OpenAI-compatible inference service."""
    engine = build_engine(settings, ocr_reader(settings))
    await engine.start()
    runner = web.AppRunner(build_service_app(engine, service_options(settings)), access_log=None)
    await runner.setup()
    port = port or settings.service.port
    await web.TCPSite(runner, settings.service.host, port).start()
    _progress(f"core service on http://{settings.service.host}:{port}/v1")
    try:
        await _wait_for_signal()
    finally:
        await runner.cleanup()
        await engine.stop()


async def chat(settings: Settings, chat_id: str) -> None:
    from adapters.terminal.adapter import TerminalAdapter
    from adapters.terminal.chat import run_chat
    from adapters.terminal.settings import TerminalSettings

    store = await Store.open(settings.store.url)
    ocr = ocr_reader(settings)
    engine = build_engine(settings, ocr)
    context = AdapterContext(inbox=store, image_limits=image_limits(settings))
    adapter = TerminalAdapter(context, TerminalSettings(chat_id=chat_id))
    options = runtime_options(settings, serve_http=False)
    brains = build_brains(settings, ocr)
    answerer = Answerer(
        store, engine, brains, stream_openers({adapter.name: adapter}), options.answer,
        contact=shop_contact(brains),
    )  # fmt: skip
    runtime = Runtime(store, engine, answerer, {adapter.name: adapter}, options)
    await run_chat(runtime, store, adapter)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        asyncio.run(serve(settings, ProcessRole(args.role)))
    elif args.command == "core":
        asyncio.run(core_service(settings, args.port))
    elif args.command == "chat":
        asyncio.run(chat(settings, args.chat_id))
    elif args.command == "feedback":
        asyncio.run(store_tools.feedback_export(settings, args.file, args.since, args.until))
    elif args.command == "export":
        asyncio.run(store_tools.export_conversation(settings, args.key, args.out))
    elif args.command == "deadletters":
        return asyncio.run(store_tools.deadletters(settings, args))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser(__doc__).parse_args(argv)
    if args.command == "knowledge":
        return knowledge_cli.run(args)
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        install_redaction(secret_values(settings))
        return _run(args, settings)
    except KefuError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
