"""Wiring of the operator desk (``/ops``), called by ``main.assemble`` when the web chat runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from adapters.web.adapter import WebAdapter
from adapters.web.ops import OpsConsole, OpsOptions
from adapters.web.status import EngineFacts, SystemStatus, knowledge_holder
from core.answering.bot import BotBrain
from core.answering.meter import ThroughputMeter
from core.engines.base import Engine
from core.media.images import ImageLimits
from core.model.turn import Role
from core.store.console import ConsoleReads
from core.store.deadletters import DeadLetters
from core.store.store import Store

log = logging.getLogger(__name__)


def mount_console(
    settings: Any,
    token: str | None,
    store: Store,
    engine: Engine,
    brains: Mapping[Role, BotBrain],
    chat: Any,
    meter: ThroughputMeter,
) -> OpsConsole | None:
    """Mount ``/ops`` next to the web chat, when this process receives web traffic.

    Args:
        settings: kefu settings (engine, handoff and image sections).
        token: The operator token; None keeps the desk locked (and says how to open it).
        store: The store the desk reads and whose inbox takes operators' actions.
        engine: The answering engine (status, playground).
        brains: The customer brain answers the playground and knows the knowledge folder.
        chat: The web adapter.
        meter: The answerer's throughput meter.
    """
    if not isinstance(chat, WebAdapter) or chat.context.web is None or not chat.context.receive:
        return None
    if not token:
        log.warning("/ops is locked: set KEFU_SERVICE__OPERATOR_TOKEN to open the operator desk")
    engine_settings = settings.engine
    facts = EngineFacts(
        engine_settings.kind, engine_settings.device, engine_settings.max_batch_size
    )
    brain = brains.get(Role.CUSTOMER)
    reads = ConsoleReads(store, ("web", "ops"))
    status = SystemStatus(reads, DeadLetters(store), engine, meter, facts, knowledge_holder(brain))
    images = settings.images
    options = OpsOptions(
        token, settings.handoff.expected_wait_minutes, chat.settings.max_images,
        ImageLimits(images.max_bytes, images.max_pixels, images.target_pixels),
    )  # fmt: skip
    return OpsConsole(chat.context.web, store, store, chat, status, brain, engine, options)
