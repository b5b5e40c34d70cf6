"""The smallest knowledge values: bilingual text and money rounding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from core.texts import Language

CENT = Decimal("0.01")


def round_money(amount: Decimal) -> Decimal:
    """Round to cents, half up (shop receipts round 0.005 up, not to even)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Localized:
    """A text in Chinese and English (a language the file left out holds the other one)."""

    zh: str
    en: str

    def get(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en

    @property
    def both(self) -> str:
        return self.zh if self.zh == self.en else f"{self.en} / {self.zh}"
