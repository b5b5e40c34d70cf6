"""The demo shop's brain: :class:`core.knowledge.brain.KnowledgeBrain` over ``bots/shop``.

``bots.loader`` calls :func:`build_brain` with the settings; the knowledge folder is the
one named in ``bot.yaml`` unless ``settings.bot.knowledge_dir`` points elsewhere (a shop
owner drops their folder into config and restarts).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from core.knowledge.base import KnowledgeHolder
from core.knowledge.botconfig import BotConfig, load_bot_config
from core.knowledge.brain import KnowledgeBrain, OcrReading
from core.knowledge.intents import Intents
from core.knowledge.tools import ToolOutcome
from core.model.turn import Audience, Turn
from core.texts import Language, text

BOT_DIR = Path(__file__).parent
BOT_FILE = BOT_DIR / "bot.yaml"
ORDER_FACT_PREFIX = "order:"  # the order tool's facts (core.knowledge.tools)


class ShopBrain(KnowledgeBrain):
    """The customer-facing shop assistant.

    In a group chat it never shares order details (orders, tracking numbers, addresses):
    everyone there would read them. The asker is told to ask in a private chat instead, and
    nothing about their orders reaches the model either.
    """

    async def _tools(
        self, turn: Turn, customer_text: str, ocr_text: str, intents: Intents, language: Language
    ) -> ToolOutcome:
        outcome = await super()._tools(turn, customer_text, ocr_text, intents, language)
        if turn.audience is Audience.PRIVATE:
            return outcome
        if not any(f.source.startswith(ORDER_FACT_PREFIX) for f in outcome.facts):
            return outcome
        return ToolOutcome(reply=text("orders_private_only", language))


def load_shop(
    config_file: Path = BOT_FILE, knowledge_dir: Path | None = None
) -> tuple[BotConfig, KnowledgeHolder]:
    """Read bot.yaml and load its knowledge folder (all-or-nothing).

    Raises:
        ConfigError: bot.yaml or any knowledge file is invalid (file and line named).
    """
    config = load_bot_config(config_file)
    folder = knowledge_dir or config.knowledge_dir(config_file.parent)
    holder = KnowledgeHolder(folder, config.retrieval.thresholds(), config.orders.source())
    return config, holder


def build_brain(
    settings: Any = None,
    *,
    ocr: OcrReading | None,
    clock: Callable[[], date] | None = None,
    knowledge_dir: Path | None = None,
) -> ShopBrain:
    """Build the shop brain.

    Args:
        settings: kefu settings; ``settings.bot.knowledge_dir`` (if present) overrides the folder.
        ocr: OCR reader; the process-wide shared reader when omitted.
        clock: Today's date (tests and the evaluation pin it).
        knowledge_dir: Explicit knowledge folder (wins over settings).
    """
    configured = getattr(getattr(settings, "bot", None), "knowledge_dir", None)
    folder = knowledge_dir or (Path(configured) if configured else None)
    config, holder = load_shop(BOT_FILE, folder)
    return ShopBrain(config, holder, ocr=ocr, clock=clock)
