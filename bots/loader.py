"""Which brain answers whom: ``bot.customer`` and ``bot.staff`` name folders under ``bots/``.

Each bot package exposes ``build_brain(settings, *, ocr) -> BotBrain`` in its ``brain``
module (``ocr`` is the process's one OCR reader, so a photo is read once);
``basic`` is the generic prompt-only brain from the core.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.answering.bot import BotBrain
from core.answering.prompt_brain import PromptBrain
from core.errors import ConfigError
from core.knowledge.brain import OcrReading
from core.model.turn import Role


def load_brain(name: str, settings: Any, ocr: OcrReading) -> BotBrain:
    """Build the brain of bot ``name``.

    Raises:
        ConfigError: no such bot, or its knowledge failed validation.
    """
    if name == "basic":
        return PromptBrain()
    try:
        module = importlib.import_module(f"bots.{name}.brain")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"no bot named '{name}' (expected bots/{name}/brain.py): {exc}") from exc
    brain: BotBrain = module.build_brain(settings, ocr=ocr)
    return brain


def load_brains(settings: Any, ocr: OcrReading) -> dict[Role, BotBrain]:
    """Customer and staff brains from settings (``bot.customer``, ``bot.staff``).

    Args:
        settings: kefu settings.
        ocr: The OCR reader shared with the engine, so each photo is read once.
    """
    return {
        Role.CUSTOMER: load_brain(settings.bot.customer, settings, ocr),
        Role.STAFF: load_brain(settings.bot.staff, settings, ocr),
    }
