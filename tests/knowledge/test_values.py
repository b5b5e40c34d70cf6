"""Bilingual text and money rounding."""

from __future__ import annotations

from decimal import Decimal

from core.knowledge.values import Localized, round_money


def test_round_money_is_half_up_to_cents() -> None:
    assert round_money(Decimal("45.571428")) == Decimal("45.57")
    assert round_money(Decimal("53.425")) == Decimal("53.43")  # half-even would give 53.42


def test_both_languages_are_shown_once_when_equal() -> None:
    assert Localized("2.4 GHz only", "2.4 GHz only").both == "2.4 GHz only"
    assert Localized("保质期", "shelf life").both == "shelf life / 保质期"
    assert Localized("保质期", "shelf life").get("zh") == "保质期"
