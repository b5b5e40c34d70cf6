"""What a bot is, as seen by the worker: a brain that prepares prompts and assesses answers.

The worker owns the loop (memory, engine, streaming, store); a :class:`BotBrain` owns the
bot-specific decisions: which facts and tool results go into the prompt, whether to hand
the conversation to a person before or after answering, and how confident an answer is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.engines.base import ChatMessage, ToolCall, ToolSpec
from core.model.decision import HandoffKind
from core.model.turn import Confidence, HistoryItem, Turn


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What the conversation so far tells a brain about a new turn.

    Attributes:
        history: The last rounds, oldest first (the memory the prompt may use).
        failures: Failed or weak answers in a row before this turn: the durable counter
            (``conversations.failures``), so it holds across restarts and processes.
    """

    history: tuple[HistoryItem, ...] = ()
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Fact:
    """A retrieved piece of shop knowledge or a tool result, with its source for citations."""

    source: str
    text: str
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class HandoffDecision:
    """Why a conversation goes to a person. ``reasons`` are logged in the decision log."""

    reasons: tuple[str, ...]
    kind: HandoffKind = HandoffKind.POLICY


class DraftGuard(Protocol):
    """A brain's early verdict on a model draft while it is being written."""

    def doomed(self, text_so_far: str) -> str | None:
        """Why the draft can no longer pass the assessment, or None while it still may."""
        ...


class FunctionBox(Protocol):
    """A brain's functions for engines with function calling: the model chooses them."""

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        """The functions offered to the model."""
        ...

    async def call(self, call: ToolCall) -> Fact:
        """Run one call; its result is a fact (also grounding evidence). Bad arguments give
        a fact saying so, for the model to correct itself, never an exception."""
        ...

    def guard(self, facts: tuple[Fact, ...]) -> DraftGuard | None:
        """The draft guard once the calls so far returned ``facts``."""
        ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """The prompt for one turn plus what the assessment needs later.

    Attributes:
        messages: System prompt first, then history, then the customer's turn.
        facts: What was retrieved and what tools returned (grounding checks against these).
        handoff: Set when the turn must go to a person without asking the model.
        direct_reply: Set when the bot answers with a fixed text (commands) without the model.
        ocr_text: OCR text of the turn's photos, when the brain read them.
        stream_preview: Whether the customer may watch the model's answer being written.
            Brains turn it off when answers are often withheld after assessment, so a
            customer never glimpses an answer that is then replaced by a handoff.
        failures: The context's failures in a row, for the assessment's repeated-failure rule.
        guard: Stops the model's draft early once it can no longer pass the assessment.
        functions: Offered to engines with function calling (None: the rules decide).
    """

    messages: tuple[ChatMessage, ...]
    facts: tuple[Fact, ...] = ()
    handoff: HandoffDecision | None = None
    direct_reply: str | None = None
    ocr_text: str = ""
    stream_preview: bool = True
    failures: int = 0
    guard: DraftGuard | None = None
    functions: FunctionBox | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on a generated answer.

    Attributes:
        confidence: The answer's confidence.
        handoff: Set when the answer must not be sent and a person takes over.
        weak: The answer is sent but weak: it counts towards the failures in a row.
    """

    confidence: Confidence
    handoff: HandoffDecision | None = None
    weak: bool = False


class BotBrain(Protocol):
    """A bot's decisions. Implementations live in ``bots/<name>/``."""

    name: str

    async def prepare(self, turn: Turn, context: TurnContext) -> Prepared:
        """Build the prompt for ``turn`` (retrieval, tools, OCR) or decide without the model."""
        ...

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, logprob_confidence: Confidence
    ) -> Assessment:
        """Score the answer (grounding, rules) and decide whether to hand off."""
        ...
