"""The staff playground: one question to the shop bot, with its raw draft beside what a
customer would get. Nothing is stored and nobody is messaged; staff set the temperature
and token budget, and may add several photos (to compare products)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.answering.bot import BotBrain, TurnContext
from core.answering.confidence import score_logprobs
from core.engines.base import Engine, GenerationRequest, collect
from core.model.turn import ConversationKey, ImagePart, Part, Role, Sender, TextPart, Turn
from core.texts import detect_language, text

PLAYGROUND_KEY = ConversationKey("web", "playground")


@dataclass(frozen=True, slots=True)
class PlaygroundQuestion:
    text: str
    images: tuple[ImagePart, ...]
    temperature: float
    max_tokens: int


async def try_question(
    brain: BotBrain, engine: Engine, question: PlaygroundQuestion, wait_minutes: int
) -> dict[str, Any]:
    """Prepare, generate and assess like the answerer does; returns everything staff see."""
    parts: list[Part] = [*question.images, TextPart(question.text)]
    turn = Turn(
        PLAYGROUND_KEY, Sender("ops", "operator", Role.CUSTOMER), "playground", tuple(parts)
    )
    language = detect_language(question.text)
    prepared = await brain.prepare(turn, TurnContext())
    facts = [{"source": f.source, "score": f.score, "text": f.text} for f in prepared.facts]
    base = {"facts": facts, "ocr_text": prepared.ocr_text, "raw": "", "confidence": None}
    handoff_text = text("handoff_notice", language).format(wait=wait_minutes)
    if prepared.handoff is not None:
        reasons = list(prepared.handoff.reasons)
        return base | {"customer_gets": handoff_text, "decision": "handoff", "reasons": reasons}
    if prepared.direct_reply is not None:
        return base | {"customer_gets": prepared.direct_reply, "decision": "direct", "reasons": []}
    request = GenerationRequest(
        messages=prepared.messages,
        max_new_tokens=question.max_tokens,
        temperature=question.temperature,
    )
    started = time.monotonic()
    raw, logprobs, last = await collect(engine.generate(request))
    seconds = time.monotonic() - started
    assessment = brain.assess(turn, prepared, raw.strip(), score_logprobs(logprobs))
    confidence = assessment.confidence
    handed = assessment.handoff
    return base | {
        "raw": raw,
        "customer_gets": handoff_text if handed else raw.strip(),
        "decision": "handoff" if handed else "answer",
        "reasons": list(handed.reasons if handed else confidence.reasons),
        "confidence": {
            "score": confidence.score,
            "components": [
                {"name": c.name, "value": c.value, "weight": c.weight, "detail": c.detail}
                for c in confidence.components
            ],
        },
        "tokens": last.usage.completion_tokens if last.usage else len(logprobs),
        "seconds": round(seconds, 3),
    }
