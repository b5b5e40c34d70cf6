"""Rated answers as evaluation cases that ``bench.eval`` reads (bench/eval/SHOPS.md).

A thumbs up says the answer was right: the case expects the facts it stated (prices,
dates, order and tracking numbers, stock counts, sizes). A thumbs down says it was wrong:
the case must go to a person, and the facts the rejected answer stated are forbidden.
Staff can later replace a thumbs-down case's ``must_handoff`` with the facts the answer
should have had. Answers, decisions and raters travel as YAML comments, since a case file
takes no other keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from core.knowledge.grounding import Evidence, check_grounding
from core.model.feedback import RatedAnswer, Rating
from core.model.turn import Role

_HISTORY_ROLES = {Role.CUSTOMER: "customer", Role.BOT: "bot", Role.STAFF: "staff"}
MAX_COMMENT_CHARS = 300


def answer_facts(answer: str) -> tuple[str, ...]:
    """The checkable facts an answer states, in order, without repeats."""
    report = check_grounding(answer, Evidence(()))
    return tuple(dict.fromkeys(claim.text for claim in report.claims))


@dataclass(frozen=True, slots=True)
class ExportedCase:
    """One case (or the reason it could not become one).

    Attributes:
        rated: The rated answer.
        case: The case's fields, or None when it is skipped.
        skipped: Why it is not a case (a tie, no checkable facts).
        image_name: File name its photo is written under (in ``images/``), if it has one.
    """

    rated: RatedAnswer
    case: dict[str, Any] | None
    skipped: str = ""
    image_name: str | None = None


def to_case(rated: RatedAnswer) -> ExportedCase:
    """The evaluation case a rated answer makes."""
    rating = rated.rating
    if rating is None:
        return ExportedCase(rated, None, "the raters are split evenly")
    facts = answer_facts(rated.answer)
    if rating is Rating.UP and not facts:
        return ExportedCase(rated, None, "the approved answer states no checkable fact")
    question = rated.question
    image_name = None
    case: dict[str, Any] = {
        "id": f"feedback-{rated.turn_id}",
        "platform": question.key.channel,
        "user": question.sender.user_id,
        "text": question.text,
    }
    if question.images:
        first = question.images[0]
        image_name = f"feedback-{rated.turn_id}.{'png' if first.mime == 'image/png' else 'jpg'}"
        case["image"] = image_name
    if rated.history:
        case["history"] = [
            {"role": _HISTORY_ROLES[h.role], "text": h.text}
            for h in rated.history
            if h.role in _HISTORY_ROLES
        ]
    if rating is Rating.UP:
        case["expect_facts"] = list(facts)
    else:
        case["must_handoff"] = True
        if facts:
            case["forbid"] = list(facts)
    return ExportedCase(rated, case, image_name=image_name)


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_COMMENT_CHARS else flat[: MAX_COMMENT_CHARS - 1] + "…"


def _comments(item: ExportedCase) -> list[str]:
    rated = item.rated
    lines = [
        f"turn {rated.turn_id} in {rated.question.key.as_str()} on {rated.day}",
        f"thumbs up: {', '.join(rated.ups) or '-'}; thumbs down: {', '.join(rated.downs) or '-'}",
        f"answer: {_short(rated.answer) or '(none stored)'}",
    ]
    if rated.decision is not None:
        score = rated.decision.confidence
        confidence = f" confidence {score:.2f}" if score is not None else ""
        lines.append(f"decision: {rated.decision.kind}{confidence}: "
                     + _short("; ".join(rated.decision.reasons)))  # fmt: skip
    if item.skipped:
        lines.append(f"not a case: {item.skipped}")
    return lines


@dataclass(slots=True)
class CaseFileText:
    """One cases file: the YAML text and what went into it."""

    day: date
    cases: list[ExportedCase] = field(default_factory=list)
    skipped: list[ExportedCase] = field(default_factory=list)

    def render(self) -> str:
        """The file's YAML (``date`` and ``cases``; comments carry the rest)."""
        out = [
            "# kefu feedback export: rated answers as bench.eval cases (bench/eval/SHOPS.md).",
            "# Thumbs up: the facts the approved answer stated are expected.",
            "# Thumbs down: the case must go to a person; the rejected answer's facts are forbidden.",
            f"date: {self.day.isoformat()}",
            "cases:",
        ]
        for item in self.cases:
            out.extend(f"  # {line}" for line in _comments(item))
            dumped = yaml.safe_dump([item.case], allow_unicode=True, sort_keys=False, width=100)
            out.extend(f"  {line}" for line in dumped.rstrip("\n").splitlines())
        for item in self.skipped:
            out.extend(f"# {line}" for line in _comments(item))
        return "\n".join(out) + "\n"


def case_files(rated: list[RatedAnswer]) -> list[CaseFileText]:
    """Rated answers grouped into one cases file per day (a file has one evaluation date)."""
    files: dict[date, CaseFileText] = {}
    for answer in rated:
        item = to_case(answer)
        target = files.setdefault(answer.day, CaseFileText(answer.day))
        (target.cases if item.case is not None else target.skipped).append(item)
    return [files[day] for day in sorted(files)]
