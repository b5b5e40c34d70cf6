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
from core.texts import TEXTS, Language

BOT_DIR = Path(__file__).parent
BOT_FILE = BOT_DIR / "bot.yaml"


class ShopBrain(KnowledgeBrain):
    """The customer-facing shop assistant."""

    def shop_contact(self, language: Language) -> str:
        """The shop profile's contact (``shop.yaml``: ``contact``), the one place it is read."""
        shop = self.holder.current.knowledge.shop
        if not shop.contact:
            return ""
        named = [
            (TEXTS.get(f"contact_{kind}", {}).get(language, kind), v) for kind, v in shop.contact
        ]
        ways = ("；".join(f"{k}：{v}" for k, v in named) if language == "zh"
                else "; ".join(f"{k}: {v}" for k, v in named))  # fmt: skip
        return f"{ways} ({shop.hours.get(language)})" if shop.hours else ways


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
