"""Check that the facts in an answer come from somewhere: the retrieved knowledge, the tool
results or the conversation.

A small model copies facts well and invents them confidently. Prices, dates, order
numbers, tracking numbers, sizes and stock counts are extracted from the answer and
looked up in the evidence (normalised the same way); each one not found lowers the
``grounding`` confidence component, with the claim named in its detail for the decision log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from core.knowledge.ordernumbers import find_order_numbers, normalise_for_numbers
from core.knowledge.specclaims import SpecEvidence, spec_claims
from core.model.turn import ConfidenceComponent

_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"
PRICE_PATTERNS = (
    re.compile(rf"(?:[¥$]|RMB|CNY)\s*{_AMOUNT}", re.IGNORECASE),
    re.compile(rf"{_AMOUNT}\s*(?:元|块|RMB|CNY|yuan)", re.IGNORECASE),
)
NUMBER = re.compile(r"(?<![\d.])\d+(?:,\d{3})*(?:\.\d+)?")
DATE_ISO = re.compile(r"(?<!\d)(20\d{2})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
DATE_ZH = re.compile(r"(?:(20\d{2})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DATE_EN = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(20\d{2}))?",
    re.IGNORECASE,
)
TRACKING = re.compile(r"(?<![A-Z0-9])(?:SF|JDV|JD|YT|ZTO|EMS)\d{9,15}(?![0-9])")
STOCK = re.compile(
    r"(?:还有|剩|库存|仅剩|只剩)\s*(\d+)\s*(?:件|双|个|条)?|(\d+)\s*(?:件|双|个|条)?\s*(?:in stock|left|available|库存)",
    re.IGNORECASE,
)
SIZE = re.compile(
    r"(?<![A-Za-z])(XXL|XL|XS|S|M|L)\s*(?:码|号)|(?:size|尺码|码数)\s*([A-Z]{1,3}|\d{2,3})(?![A-Za-z\d])|(?<!\d)(\d{2,3})\s*(?:码|号)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Claim:
    """One checkable fact in an answer."""

    kind: str  # price, date, order_number, tracking, size, stock, spec
    text: str  # as written in the answer
    grounded: bool


@dataclass(frozen=True, slots=True)
class GroundingReport:
    """Every claim found in an answer and whether the evidence supports it."""

    claims: tuple[Claim, ...]

    @property
    def ungrounded(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if not c.grounded)

    def component(self, penalty: float = 0.5, weight: float = 1.0) -> ConfidenceComponent:
        """``grounding`` = 1 minus ``penalty`` per ungrounded claim (at least 0)."""
        missing = self.ungrounded
        value = max(0.0, 1.0 - penalty * len(missing))
        if missing:
            detail = "ungrounded: " + ", ".join(f"{c.kind} {c.text!r}" for c in missing)
        else:
            detail = f"{len(self.claims)} fact(s) checked, all grounded"
        return ConfidenceComponent("grounding", value, weight, detail)

    def reasons(self) -> tuple[str, ...]:
        return tuple(
            f"{c.kind} {c.text!r} is not in the facts or the conversation" for c in self.ungrounded
        )


def _decimal(whole: str, cents: str | None) -> Decimal | None:
    try:
        return Decimal(whole.replace(",", "") + (f".{cents}" if cents else ""))
    except InvalidOperation:
        return None


def _prices(text: str) -> list[tuple[str, Decimal]]:
    found: dict[tuple[int, int], tuple[str, Decimal]] = {}
    for pattern in PRICE_PATTERNS:
        for match in pattern.finditer(text):
            value = _decimal(match.group(1), match.group(2))
            overlaps = any(
                s <= match.start() < e or match.start() <= s < match.end() for s, e in found
            )
            if value is not None and not overlaps:
                found[match.span()] = (match.group(0).strip(), value)
    return [found[span] for span in sorted(found)]


def _numbers(text: str) -> set[Decimal]:
    values = set()
    for match in NUMBER.finditer(text):
        try:
            values.add(Decimal(match.group().replace(",", "")))
        except InvalidOperation:
            continue
    return values


def _dates(text: str) -> list[tuple[str, int | None, int, int]]:
    """(as written, year or None, month, day) for every date in ``text``."""
    out: list[tuple[str, int | None, int, int]] = [
        (m.group(0), int(m.group(1)), int(m.group(2)), int(m.group(3)))
        for m in DATE_ISO.finditer(text)
    ]
    out += [
        (m.group(0), int(m.group(1)) if m.group(1) else None, int(m.group(2)), int(m.group(3)))
        for m in DATE_ZH.finditer(text)
    ]
    for m in DATE_EN.finditer(text):
        year = int(m.group(3)) if m.group(3) else None
        out.append((m.group(0), year, MONTHS.index(m.group(1).lower()[:3]) + 1, int(m.group(2))))
    return [d for d in out if 1 <= d[2] <= 12 and 1 <= d[3] <= 31]


class Evidence:
    """Everything an answer may legitimately state, normalised for lookups.

    Args:
        texts: The facts and the customer's words.
        spec_labels: The shop's specification labels (every language), so that "waterproof
            rating of 1" is checked against what follows that label in the facts.
    """

    def __init__(self, texts: Iterable[str], spec_labels: Iterable[str] = ()) -> None:
        texts = list(texts)
        joined = "\n".join(texts)
        self.specs = SpecEvidence(texts, spec_labels)
        self.text = normalise_for_numbers(joined)
        self.numbers = _numbers(self.text)
        self.dates = {(y, m, d) for _, y, m, d in _dates(joined)} | {
            (y, m, d) for _, y, m, d in _dates(self.text)
        }
        self.order_numbers = set(find_order_numbers(joined))
        self.compact = re.sub(r"\s+", "", self.text)

    def has_date(self, year: int | None, month: int, day: int) -> bool:
        return any(
            m == month and d == day and (year is None or y is None or y == year)
            for y, m, d in self.dates
        )


def check_grounding(answer: str, evidence: Evidence) -> GroundingReport:
    """Extract the checkable facts of ``answer`` and look each one up in ``evidence``."""
    claims: list[Claim] = []
    normal = normalise_for_numbers(answer)
    for written, value in _prices(normal):
        claims.append(Claim("price", written, value in evidence.numbers))
    for written, year, month, day in _dates(normal):
        claims.append(Claim("date", written, evidence.has_date(year, month, day)))
    for number in find_order_numbers(answer):
        claims.append(Claim("order_number", number, number in evidence.order_numbers))
    for match in TRACKING.finditer(normal):
        claims.append(Claim("tracking", match.group(0), match.group(0) in evidence.compact))
    for match in STOCK.finditer(normal):
        count = Decimal(match.group(1) or match.group(2))
        claims.append(Claim("stock", match.group(0).strip(), count in evidence.numbers))
    for match in SIZE.finditer(normal):
        size = next(g for g in match.groups() if g)
        claims.append(Claim("size", match.group(0).strip(), _size_in(size, evidence)))
    claims += [Claim("spec", c.text, c.grounded) for c in spec_claims(answer, evidence.specs)]
    return GroundingReport(tuple(claims))


def _size_in(size: str, evidence: Evidence) -> bool:
    pattern = rf"(?<![A-Z0-9]){re.escape(size.upper())}(?![A-Z0-9])"
    return re.search(pattern, evidence.text) is not None
