"""What the decision log keeps of an answer beyond its confidence: the facts it used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.answering.bot import Fact
from core.model.decision import Completion

FACT_PREFIX = "fact "
MAX_LOGGED_FACTS = 8


def with_facts(completion: Completion, facts: Sequence[Fact]) -> Completion:
    """The decision with the facts the answer was built from (the operator desk shows them)."""
    if not facts:
        return completion
    logged = tuple(
        f"{FACT_PREFIX}{f.source} ({f.score:.2f}): {f.text[:200]}" for f in facts[:MAX_LOGGED_FACTS]
    )
    decision = completion.decision
    return replace(completion, decision=replace(decision, reasons=(*decision.reasons, *logged)))
