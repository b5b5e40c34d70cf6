"""How far a model draft can be trusted: token probabilities, grounding of every stated
fact (prices, dates, ids, stock, specifications), support in the facts, retrieval strength
and language, with hard caps; and the draft guard that stops a draft at its first invented
fact."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.answering.bot import Fact
from core.answering.confidence import combine, scaled, with_cap
from core.knowledge.botconfig import ConfidenceConfig
from core.knowledge.grounding import Evidence, check_grounding
from core.knowledge.model import Knowledge
from core.knowledge.textproc import tokenize
from core.model.turn import Confidence, ConfidenceComponent
from core.texts import detect_language

CONVERSATION = "conversation"  # source of the customer's own words (grounding evidence only)
CRITICAL_CLAIMS = frozenset({"price", "order_number", "tracking", "date", "stock", "spec"})
# The end of a draft still being written: a number or code may not be complete yet.
_UNFINISHED = re.compile(r"[\w.,¥$€£%°℃:/+-]*$")


class GroundingGuard:
    """Stops a draft as soon as it states a price, date, id, stock count or specification
    that is not in the facts: such a draft is capped below the handoff threshold anyway."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence

    def doomed(self, text_so_far: str) -> str | None:
        settled = _UNFINISHED.sub("", text_so_far)
        if not settled.strip():
            return None
        report = check_grounding(settled, self.evidence)
        critical = [c for c in report.ungrounded if c.kind in CRITICAL_CLAIMS]
        if critical:
            return f"the draft states {critical[0].kind} {critical[0].text!r}, which is not in the facts"
        return None


def support_share(answer: str, facts: Sequence[Fact]) -> float:
    """Share of the answer's content words that appear in the facts or the customer's words."""
    words = [t for t in tokenize(answer) if len(t) > 1 or not t.isascii()]
    if not words:
        return 0.0
    known = set(tokenize("\n".join(f.text for f in facts)))
    return sum(w in known for w in words) / len(words)


def is_repetitive(answer: str, min_repeats: int = 3) -> bool:
    """True when one sentence (or a 12-character run of Chinese) comes back ``min_repeats`` times."""
    sentences = [
        s.strip().lower() for s in re.split(r"[.!?。！？；;\n]+", answer) if len(s.strip()) >= 8
    ]
    if sentences and max(sentences.count(s) for s in sentences) >= min_repeats:
        return True
    runs = [answer[i : i + 12] for i in range(max(len(answer) - 11, 0))]
    counts: dict[str, int] = {}
    for run in runs:
        counts[run] = counts.get(run, 0) + 1
    return any(c >= min_repeats and not run.isascii() for run, c in counts.items())


def spec_labels(knowledge: Knowledge) -> tuple[str, ...]:
    """Every product specification label of the shop, in every language."""
    labels = {key.replace("_", " ") for p in knowledge.products for key, _ in p.attributes}
    return tuple(sorted(labels))


def score_answer(
    cfg: ConfidenceConfig,
    evidence: Evidence,
    question: str,
    facts: Sequence[Fact],
    answer: str,
    logprob_confidence: Confidence,
) -> Confidence:
    """Logprobs, grounding, retrieval strength and language, with hard caps."""
    report = check_grounding(answer, evidence)
    knowledge = [f for f in facts if f.source != CONVERSATION]
    strength = max((min(f.score, 1.0) for f in knowledge), default=0.0)
    language = detect_language(question)
    same_language = detect_language(answer) == language
    parts: list[Confidence | ConfidenceComponent] = [
        scaled(logprob_confidence, 1.0),
        report.component(cfg.grounding_penalty, cfg.grounding_weight),
        ConfidenceComponent(
            "retrieval",
            strength,
            cfg.retrieval_weight,
            f"best fact coverage {strength:.2f} over {len(knowledge)} fact(s)",
        ),
        ConfidenceComponent(
            "language",
            1.0 if same_language else 0.0,
            cfg.language_weight,
            f"customer writes {language}",
        ),
    ]
    confidence = combine(*parts)
    confidence = Confidence(
        confidence.score, confidence.components, (*confidence.reasons, *report.reasons())
    )
    critical = [c for c in report.ungrounded if c.kind in CRITICAL_CLAIMS]
    if critical:
        confidence = with_cap(
            confidence,
            "ungrounded_fact",
            cfg.ungrounded_cap,
            f"{len(critical)} ungrounded {critical[0].kind} claim(s)",
        )
    if not answer.strip():
        confidence = with_cap(confidence, "empty_answer", 0.0, "the model returned an empty answer")
    support = support_share(answer, facts)
    confidence = combine(
        confidence,
        ConfidenceComponent(
            "support",
            support,
            cfg.support_weight,
            f"{support:.0%} of the answer's words are in the facts or the question",
        ),
    )
    if support < cfg.min_support:
        confidence = with_cap(
            confidence,
            "off_facts",
            cfg.off_facts_cap,
            f"only {support:.0%} of the answer's words come from the facts",
        )
    if is_repetitive(answer):
        confidence = with_cap(
            confidence, "repetition", cfg.repetition_cap, "the answer repeats itself"
        )
    if not same_language:
        confidence = Confidence(
            confidence.score,
            confidence.components,
            (*confidence.reasons, f"answer is not in the customer's language ({language})"),
        )
    return confidence
