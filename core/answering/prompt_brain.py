"""A generic brain: a system prompt, the last rounds of memory, and the customer's turn.

Used by ``main.py chat``/``core`` when no shop is configured, and as the building block
of richer brains. Confidence comes from the answer's token log-probabilities alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.answering.bot import Assessment, Prepared, TurnContext
from core.engines.base import ChatMessage
from core.model.turn import Command, Confidence, HistoryItem, Role, Turn
from core.texts import detect_language, text

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly, concise customer-service assistant for an online shop. "
    "Answer in the customer's language. If you do not know, say so and offer to "
    "connect the customer with a person."
)


def history_messages(history: Sequence[HistoryItem]) -> list[ChatMessage]:
    """Map stored history onto chat roles (staff words count as the assistant side)."""
    return [
        ChatMessage.text("user" if item.role is Role.CUSTOMER else "assistant", item.text)
        for item in history
    ]


class PromptBrain:
    """Answers every turn with the model, from a fixed system prompt.

    Args:
        system_prompt: The persona and rules.
        name: Bot name for logs.
    """

    def __init__(self, system_prompt: str = DEFAULT_SYSTEM_PROMPT, name: str = "basic") -> None:
        self.system_prompt = system_prompt
        self.name = name

    async def prepare(self, turn: Turn, context: TurnContext) -> Prepared:
        if turn.command in (Command.START, Command.HELP):
            return Prepared(messages=(), direct_reply=text("greeting", detect_language(turn.text)))
        messages = [
            ChatMessage.text("system", self.system_prompt),
            *history_messages(context.history),
        ]
        messages.append(ChatMessage("user", turn.parts))
        return Prepared(messages=tuple(messages))

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, logprob_confidence: Confidence
    ) -> Assessment:
        return Assessment(confidence=logprob_confidence)
