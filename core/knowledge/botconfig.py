"""A bot definition: ``bots/<name>/bot.yaml`` (persona, knowledge folder, thresholds, handoff).

Validated like the knowledge files: a mistake is a ``ConfigError`` naming file and line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError
from core.knowledge.format import LocalizedIn
from core.knowledge.model import Localized, ShopInfo
from core.knowledge.orders import OrderSource
from core.knowledge.orders_http import HttpOrderSource
from core.knowledge.policy import HandoffPolicyConfig
from core.knowledge.retrieval import RelevanceThresholds
from core.knowledge.yamlsrc import read_yaml, validation_errors


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrievalConfig(_Section):
    top_k: int = Field(3, ge=1, le=10)
    min_score: float = Field(2.0, ge=0)
    min_coverage: float = Field(0.6, ge=0, le=1)
    fact_min_coverage: float = Field(0.4, ge=0, le=1)

    def thresholds(self) -> RelevanceThresholds:
        return RelevanceThresholds(self.min_score, self.min_coverage, self.fact_min_coverage)


class DirectAnswerConfig(_Section):
    """When a knowledge item is quoted directly instead of asking the model.

    Attributes:
        kinds: Document kinds that may be quoted (``faq``, ``policy``); empty = never.
        min_coverage: The best hit must contain this share of the question's key terms.
        min_score: ... and reach this BM25 score.
        min_margin: ... and beat the second hit's score by this factor.
        dominance: Or: its score is this many times the runner-up's ...
        dominant_coverage: ... and it contains this share of the key terms (and states the
            kind of answer asked for: a duration, an amount, a date).
        sibling_ratio: Two sections of one policy are quoted together when the second
            scores this share of the first (see :mod:`core.knowledge.passages`).
    """

    kinds: tuple[Literal["faq", "policy"], ...] = ("faq",)
    min_coverage: float = Field(0.8, ge=0, le=1)
    min_score: float = Field(4.0, ge=0)
    min_margin: float = Field(1.2, ge=1)
    dominance: float = Field(2.0, ge=1)
    dominant_coverage: float = Field(0.4, ge=0, le=1)
    sibling_ratio: float = Field(0.75, gt=0, le=1)


class ConfidenceConfig(_Section):
    """How other evidence adds to the logprob confidence (whose weights sum to 1).

    Attributes:
        grounding_weight / grounding_penalty: The grounding component (facts checked).
        ungrounded_cap: Score ceiling when a price, date, order, tracking or stock claim
            is not in the facts.
        retrieval_weight: Weight of the best fact's query coverage.
        language_weight: Weight of "the answer is in the customer's language".
        support_weight: Weight of the share of the answer's words found in the facts or
            the customer's words (a tiny model that strays invents).
        min_support / off_facts_cap: Below ``min_support`` the score is capped.
        repetition_cap: Ceiling for degenerate answers that repeat themselves.
    """

    grounding_weight: float = Field(1.0, ge=0)
    grounding_penalty: float = Field(0.5, gt=0, le=1)
    ungrounded_cap: float = Field(0.3, ge=0, le=1)
    retrieval_weight: float = Field(0.3, ge=0)
    language_weight: float = Field(0.5, ge=0)
    support_weight: float = Field(1.0, ge=0)
    min_support: float = Field(0.5, ge=0, le=1)
    off_facts_cap: float = Field(0.3, ge=0, le=1)
    repetition_cap: float = Field(0.2, ge=0, le=1)


class OrdersConfig(_Section):
    """Where orders come from: the knowledge folder, or the shop's HTTP API."""

    kind: Literal["file", "http"] = "file"
    prefix: str = Field("SO", pattern=r"^[A-Z]{1,4}$")
    base_url: str | None = None
    token_env: str | None = None  # name of the environment variable holding the API token
    timeout_s: float = Field(5.0, gt=0)
    attempts: int = Field(3, ge=1, le=10)

    def source(self) -> OrderSource | None:
        """The HTTP source, or None for the knowledge folder's orders.yaml."""
        if self.kind == "file":
            return None
        if not self.base_url:
            raise ConfigError("orders.kind is http but orders.base_url is not set")
        token = os.environ.get(self.token_env) if self.token_env else None
        return HttpOrderSource(
            self.base_url, token=token, timeout_s=self.timeout_s, attempts=self.attempts
        )


class BotConfig(_Section):
    """The whole bot.yaml."""

    name: str
    knowledge: str = "knowledge"
    persona: LocalizedIn | None = None  # the knowledge folder's shop.yaml persona wins
    history_rounds: int = Field(3, ge=0, le=20)
    max_facts: int = Field(4, ge=1, le=12)
    stream_previews: bool = True  # show the model's answer live while it is written
    # Offer the shop's tools as OpenAI functions and let the model choose them (for capable
    # engines: a Qwen-VL checkpoint, vLLM behind engine.kind openai); off: the rules decide.
    function_calling: bool = False
    retrieval: RetrievalConfig = RetrievalConfig()
    direct_answers: DirectAnswerConfig = DirectAnswerConfig()
    confidence: ConfidenceConfig = ConfidenceConfig()
    orders: OrdersConfig = OrdersConfig()
    handoff: HandoffPolicyConfig = HandoffPolicyConfig()

    def persona_for(self, shop: ShopInfo) -> Localized:
        """The shop's own persona (shop.yaml, so a shop's folder brings its own), else this
        file's, else one made from the shop's name."""
        if shop.persona is not None:
            return shop.persona
        if self.persona is not None:
            return self.persona.value()
        return Localized(
            f"你是{shop.name.zh}的智能客服。",
            f"You are the customer-service assistant of {shop.name.en}.",
        )

    def knowledge_dir(self, bot_dir: Path) -> Path:
        path = Path(self.knowledge)
        return path if path.is_absolute() else bot_dir / path


def load_bot_config(path: Path) -> BotConfig:
    """Read and validate a bot.yaml.

    Raises:
        ConfigError: unreadable or invalid, as ``file:line: path: problem`` lines.
    """
    doc = read_yaml(path)
    try:
        return BotConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid bot definition {path}:\n  " + "\n  ".join(validation_errors(doc, exc))
        ) from exc
