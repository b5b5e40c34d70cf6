"""The demo shop's brain: :class:`core.knowledge.brain.KnowledgeBrain` over ``bots/shop``.

``bots.loader`` calls :func:`build_brain` with the settings; the knowledge folder is the
one named in ``bot.yaml`` unless ``settings.bot.knowledge_dir`` points elsewhere (a shop
owner drops their folder into config and restarts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from core.answering.bot import Assessment, HandoffDecision, Prepared
from core.answering.confidence import with_cap
from core.knowledge.base import KnowledgeHolder
from core.knowledge.botconfig import BotConfig, load_bot_config
from core.knowledge.brain import RULES, KnowledgeBrain, OcrReading
from core.knowledge.disclosure import DisclosureCheck
from core.knowledge.intents import Intents
from core.knowledge.tools import ToolOutcome
from core.model.decision import HandoffKind
from core.model.turn import Audience, Confidence, HistoryItem, Turn
from core.texts import TEXTS, Language, text

BOT_DIR = Path(__file__).parent
BOT_FILE = BOT_DIR / "bot.yaml"
ORDER_FACT_PREFIX = "order:"  # the order tool's facts (core.knowledge.tools)


class ShopBrain(KnowledgeBrain):
    """The customer-facing shop assistant.

    Its answers pass a disclosure check (:mod:`core.knowledge.disclosure`) after the
    knowledge brain's grounding and confidence: a model that obeys an injected instruction
    cannot hand other customers' data, or the bot's instructions, to the asker.

    In a group chat it never shares order details (orders, tracking numbers, addresses):
    everyone there would read them. The asker is told to ask in a private chat instead, and
    nothing about their orders reaches the model either.
    """

    async def _tools(
        self,
        turn: Turn,
        customer_text: str,
        ocr_text: str,
        intents: Intents,
        language: Language,
        history: Sequence[HistoryItem] = (),
    ) -> ToolOutcome:
        outcome = await super()._tools(turn, customer_text, ocr_text, intents, language, history)
        if turn.audience is Audience.PRIVATE:
            return outcome
        if not any(f.source.startswith(ORDER_FACT_PREFIX) for f in outcome.facts):
            return outcome
        return ToolOutcome(reply=text("orders_private_only", language))

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, logprob_confidence: Confidence
    ) -> Assessment:
        """The knowledge brain's verdict, then the disclosure check: an answer naming other
        customers' orders, tracking numbers or names, or echoing the bot's instructions,
        is withheld and handed to a person, whatever its confidence."""
        assessment = super().assess(turn, prepared, answer, logprob_confidence)
        found = self._disclosures().find(answer, [f.text for f in prepared.facts])
        if not found:
            return assessment
        reasons = tuple(f"the answer would disclose {d.describe()}" for d in found)
        confidence = with_cap(assessment.confidence, "disclosure", 0.0, "; ".join(reasons))
        return Assessment(confidence, HandoffDecision(reasons, HandoffKind.POLICY), weak=True)

    def _disclosures(self) -> DisclosureCheck:
        knowledge = self.holder.current.knowledge
        persona = self.config.persona_for(knowledge.shop)
        return DisclosureCheck(
            knowledge.shop.order_number_pattern,
            (n for o in knowledge.orders for n in (o.order_no, o.tracking) if n),
            (c.name for c in knowledge.customers),
            (persona.en, persona.zh, *RULES.values()),
        )

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
