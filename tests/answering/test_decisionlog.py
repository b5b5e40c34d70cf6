"""The facts an answer used are kept in its decision (the desk shows them)."""

from __future__ import annotations

from core.answering.bot import Fact
from core.answering.decisionlog import FACT_PREFIX, MAX_LOGGED_FACTS, with_facts
from core.model.decision import Completion, Decision, DecisionKind


def test_facts_are_appended_to_the_reasons() -> None:
    completion = Completion((), Decision(DecisionKind.ANSWER, 0.9, reasons=("grounded",)))
    facts = [Fact(f"faq:q{n}", "x" * 300, 0.5) for n in range(12)]
    reasons = with_facts(completion, facts).decision.reasons
    assert reasons[0] == "grounded" and len(reasons) == 1 + MAX_LOGGED_FACTS
    assert reasons[1].startswith(f"{FACT_PREFIX}faq:q0 (0.50): ") and len(reasons[1]) < 240
    assert with_facts(completion, []) is completion
