"""Prices with Decimal: promotions valid on the given date, rounding half-up to cents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.knowledge.model import Localized, Product, Promotion, PromotionKind, Variant
from core.knowledge.pricing import best_item_promotion, discounted, quote, zh_discount

TODAY = date(2026, 11, 21)


def test_twenty_percent_off_299_is_239_20(demo_knowledge) -> None:
    q = quote([(demo_knowledge.product("JK-3002"), 1)], demo_knowledge.promotions, TODAY)
    assert q.lines[0].unit_price == Decimal("239.20")
    assert q.total == Decimal("239.20")
    assert q.lines[0].promotion.id == "WINTER-OUTERWEAR-2026"


@pytest.mark.parametrize(
    ("day", "price"),
    [
        (date(2026, 9, 30), "459.00"),  # before the National Day sale
        (date(2026, 10, 1), "321.30"),  # first day, inclusive
        (date(2026, 10, 7), "321.30"),  # last day, inclusive
        (date(2026, 10, 8), "459.00"),  # expired
        (TODAY, "459.00"),
    ],
)
def test_validity_dates_are_inclusive(demo_knowledge, day: date, price: str) -> None:
    q = quote([(demo_knowledge.product("SN-5002"), 1)], demo_knowledge.promotions, day)
    assert q.total == Decimal(price)


def test_expired_and_upcoming_are_reported(demo_knowledge) -> None:
    q = quote([(demo_knowledge.product("SN-5002"), 1)], demo_knowledge.promotions, TODAY)
    assert [p.id for p in q.expired] == ["NATIONAL-DAY-2026"]
    assert [p.id for p in q.upcoming] == ["BLACK-FRIDAY-2026"]


def test_threshold_promotion_applies_after_item_discounts(demo_knowledge) -> None:
    items = [(demo_knowledge.product("JK-3002"), 2), (demo_knowledge.product("SN-5002"), 1)]
    q = quote(items, demo_knowledge.promotions, date(2026, 11, 28))
    assert q.subtotal == Decimal("937.40")  # 2 x 239.20 + 459.00
    assert q.order_discount == Decimal("100.00")
    assert q.total == Decimal("837.40")
    below = quote(
        [(demo_knowledge.product("JK-3002"), 2)], demo_knowledge.promotions, date(2026, 11, 28)
    )
    assert below.order_promotion is None  # 478.40 < 599


def _product(price: str, category: str = "c") -> Product:
    return Product(
        "X-1",
        Localized("x", "x"),
        category,
        Localized("c", "c"),
        Decimal(price),
        (Variant("M", "", 1),),
    )


def test_best_percent_wins_and_does_not_stack() -> None:
    day = date(2026, 1, 1)
    small = Promotion(
        "A", Localized("a", "a"), PromotionKind.PERCENT_OFF, day, day, percent_off=Decimal(10)
    )
    big = Promotion(
        "B",
        Localized("b", "b"),
        PromotionKind.PERCENT_OFF,
        day,
        day,
        percent_off=Decimal(25),
        categories=frozenset({"c"}),
    )
    other = Promotion(
        "C",
        Localized("c", "c"),
        PromotionKind.PERCENT_OFF,
        day,
        day,
        percent_off=Decimal(50),
        categories=frozenset({"z"}),
    )
    product = _product("100.00")
    assert best_item_promotion(product, [small, big, other], day).id == "B"
    assert quote([(product, 1)], [small, big, other], day).total == Decimal("75.00")


def test_rounding_is_half_up() -> None:
    assert discounted(Decimal("0.05"), Decimal(50)) == Decimal("0.03")
    assert discounted(Decimal("99.90"), Decimal(15)) == Decimal("84.92")  # 84.915


def test_quantity_must_be_positive(demo_knowledge) -> None:
    with pytest.raises(ValueError):
        quote([(demo_knowledge.product("JK-3002"), 0)], demo_knowledge.promotions, TODAY)


def test_chinese_discount_names() -> None:
    assert zh_discount(Decimal(20)) == "8折"
    assert zh_discount(Decimal(15)) == "8.5折"
    assert zh_discount(Decimal(30)) == "7折"
