"""Specification claims in an answer: measurements, rating codes and "label: value" statements.

A model draft that says "a waterproof rating of 1", "rated to -10°C" or "battery life 12
hours" states a specification; each one must be in the facts for it to be sent. Three kinds:

- **measurements**: a number with a unit (``8 h``, ``8 hours``, ``8小时``, ``2000mAh``,
  ``-10°C``, ``3-season``), compared as (value, canonical unit);
- **codes**: protection ratings such as ``IPX4`` / ``IP67``, compared as written;
- **labelled values**: a spec label the shop uses (``waterproof rating``, ``保质期``)
  followed by a value; the value's numbers must follow the same label in the facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from core.knowledge.textproc import normalise

UNITS: dict[str, str] = {
    "mah": "mah", "毫安时": "mah", "毫安": "mah", "wh": "wh", "w": "w", "瓦": "w", "v": "v",
    "kg": "kg", "千克": "kg", "公斤": "kg", "g": "g", "克": "g", "mg": "mg",
    "mm": "mm", "毫米": "mm", "cm": "cm", "厘米": "cm", "km": "km", "m": "m", "米": "m",
    "ml": "ml", "毫升": "ml", "l": "l", "升": "l", "litre": "l", "litres": "l", "liter": "l",
    "liters": "l", "millilitre": "ml", "millilitres": "ml", "milliliter": "ml", "milliliters": "ml",
    "inch": "inch", "inches": "inch", "英寸": "inch", '"': "inch",
    "ghz": "ghz", "mhz": "mhz", "hz": "hz", "db": "db", "gb": "gb", "tb": "tb", "mb": "mb",
    "°c": "°c", "℃": "°c", "°f": "°f", "%": "%",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "小时": "h", "个小时": "h",
    "min": "min", "mins": "min", "minute": "min", "minutes": "min", "分钟": "min",
    "day": "day", "days": "day", "天": "day", "week": "week", "weeks": "week", "周": "week",
    "month": "month", "months": "month", "个月": "month",
    "year": "year", "years": "year", "年": "year", "season": "season", "seasons": "season",
}  # fmt: skip
_UNIT_ALTERNATIVES = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
MEASUREMENT = re.compile(
    rf"(?<![\w.])(-?\d+(?:\.\d+)?)\s*[-‐]?\s*({_UNIT_ALTERNATIVES})(?![a-z0-9])"
)
CODE = re.compile(r"(?<![a-z0-9])(ip[x0-9]\d)(?![a-z0-9])")
LINKING = r"(?:\s*(?:rating|level|grade))?\s*(?:is|of|are|:|：|为|是|达到|up to|about)?\s*"
VALUE_END = re.compile(r"[,;，；。!?！？\n]|\.(?!\d)|\band\b")


@dataclass(frozen=True, slots=True)
class SpecClaim:
    """One specification statement and whether the evidence supports it."""

    text: str
    grounded: bool


def _measurements(text: str) -> set[tuple[Decimal, str]]:
    found = set()
    for match in MEASUREMENT.finditer(text):
        value, unit = match.group(1), UNITS[match.group(2)]
        if unit == "year" and len(value) == 4:  # "2026年" is a date, not a duration
            continue
        try:
            found.add((Decimal(value), unit))
        except InvalidOperation:
            continue
    return found


def _value_after(text: str, end: int, limit: int) -> str:
    segment = text[end : end + limit]
    stop = VALUE_END.search(segment)
    return segment[: stop.start()] if stop else segment


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


class SpecEvidence:
    """The measurements, codes and labelled values the facts state.

    Args:
        texts: The facts (and the customer's words).
        labels: The shop's spec labels, in every language (``waterproof rating``, ``保质期``).
    """

    def __init__(self, texts: Iterable[str], labels: Iterable[str] = ()) -> None:
        self.text = normalise("\n".join(texts))
        self.measurements = _measurements(self.text)
        self.codes = set(CODE.findall(self.text))
        self.labels = sorted(
            {normalise(label).strip() for label in labels if len(label.strip()) >= 2},
            key=len,
            reverse=True,
        )

    def values_of(self, label: str) -> list[str]:
        """What follows ``label`` in the facts (each occurrence)."""
        pattern = re.compile(re.escape(label) + LINKING)
        return [_value_after(self.text, m.end(), 80) for m in pattern.finditer(self.text)]


def spec_claims(answer: str, evidence: SpecEvidence) -> list[SpecClaim]:
    """Every specification statement of ``answer``, checked against ``evidence``."""
    text = normalise(answer)
    claims = [
        SpecClaim(m.group(0).strip(), (v, u) in evidence.measurements)
        for m in MEASUREMENT.finditer(text)
        for v, u in _measurements(m.group(0))
    ]
    claims += [SpecClaim(code, code in evidence.codes) for code in CODE.findall(text)]
    claims += _labelled(text, evidence)
    return claims


def _labelled(text: str, evidence: SpecEvidence) -> list[SpecClaim]:
    claims = []
    taken: list[tuple[int, int]] = []
    for label in evidence.labels:
        for match in re.finditer(re.escape(label) + LINKING, text):
            if any(s <= match.start() < e for s, e in taken):
                continue  # "rating" inside "waterproof rating" already checked
            taken.append((match.start(), match.end()))
            value = _value_after(text, match.end(), 40)
            numbers = _numbers(value)
            if not numbers:
                continue  # "the waterproof rating is not listed": nothing to check
            known = evidence.values_of(label)
            grounded = any(all(n in _numbers(v) for n in numbers) for v in known)
            claims.append(SpecClaim(f"{label} {value.strip()}", grounded))
    return claims
