"""Prices and promotions, computed with Decimal on the shop's date of today.

Rules (docs/knowledge-format.md): a promotion is valid from ``starts`` to ``ends``
inclusive. Per item, the single best active ``percent_off`` promotion applies; the unit
price is rounded half-up to cents (20% off ¥299 is ¥239.20). Then the best active
``amount_off_over`` promotion whose threshold the (discounted) subtotal of its eligible
items reaches takes ``amount_off`` off the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.knowledge.model import Product, Promotion, PromotionKind, round_money

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class LineQuote:
    """One product line of a quote."""

    product: Product
    quantity: int
    list_price: Decimal
    unit_price: Decimal
    promotion: Promotion | None

    @property
    def subtotal(self) -> Decimal:
        return round_money(self.unit_price * self.quantity)


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of some products today.

    Attributes:
        today: The date the promotions were evaluated on.
        lines: Per-product prices after item discounts.
        subtotal: Sum of the lines.
        order_promotion: The amount-off-over promotion applied, if any.
        order_discount: What it took off.
        total: What the customer pays (shipping excluded).
        upcoming: Promotions for these products that start after ``today``.
        expired: Promotions for these products that already ended.
    """

    today: date
    lines: tuple[LineQuote, ...]
    subtotal: Decimal
    order_promotion: Promotion | None
    order_discount: Decimal
    total: Decimal
    upcoming: tuple[Promotion, ...]
    expired: tuple[Promotion, ...]


def discounted(price: Decimal, percent_off: Decimal) -> Decimal:
    """``price`` less ``percent_off`` percent, rounded half-up to cents."""
    return round_money(price * (HUNDRED - percent_off) / HUNDRED)


def best_item_promotion(
    product: Product, promotions: Sequence[Promotion], today: date
) -> Promotion | None:
    """The active percent-off promotion with the largest discount for ``product``."""
    candidates = [
        p
        for p in promotions
        if p.kind is PromotionKind.PERCENT_OFF and p.is_active(today) and p.applies_to(product)
    ]
    return max(candidates, key=lambda p: (p.percent_off, p.id), default=None)


def quote_line(
    product: Product, quantity: int, promotions: Sequence[Promotion], today: date
) -> LineQuote:
    promotion = best_item_promotion(product, promotions, today)
    unit = discounted(product.price, promotion.percent_off) if promotion else product.price
    return LineQuote(product, quantity, product.price, unit, promotion)


def _order_promotion(
    lines: Sequence[LineQuote], promotions: Sequence[Promotion], today: date
) -> Promotion | None:
    best: Promotion | None = None
    for promo in promotions:
        if promo.kind is not PromotionKind.AMOUNT_OFF_OVER or not promo.is_active(today):
            continue
        eligible = sum(
            (line.subtotal for line in lines if promo.applies_to(line.product)), Decimal(0)
        )
        if eligible >= promo.threshold and (best is None or promo.amount_off > best.amount_off):
            best = promo
    return best


def quote(
    items: Sequence[tuple[Product, int]], promotions: Sequence[Promotion], today: date
) -> Quote:
    """Price ``items`` (product, quantity) with the promotions valid on ``today``.

    Raises:
        ValueError: a quantity below 1 (a programming error; callers parse quantities).
    """
    if any(qty < 1 for _, qty in items):
        raise ValueError("quantities must be at least 1")
    lines = tuple(quote_line(p, qty, promotions, today) for p, qty in items)
    subtotal = sum((line.subtotal for line in lines), Decimal(0))
    order_promo = _order_promotion(lines, promotions, today)
    discount = order_promo.amount_off if order_promo else Decimal(0)
    relevant = [p for p in promotions if any(p.applies_to(line.product) for line in lines)]
    return Quote(
        today=today,
        lines=lines,
        subtotal=round_money(subtotal),
        order_promotion=order_promo,
        order_discount=round_money(discount),
        total=round_money(subtotal - discount),
        upcoming=tuple(sorted((p for p in relevant if p.starts > today), key=lambda p: p.starts)),
        expired=tuple(sorted((p for p in relevant if p.ends < today), key=lambda p: p.ends)),
    )


def zh_discount(percent_off: Decimal) -> str:
    """20 -> "8折", 15 -> "8.5折" (Chinese shops state what you pay, in tenths)."""
    tenths = (HUNDRED - percent_off) / 10
    return f"{tenths.normalize():f}折"
