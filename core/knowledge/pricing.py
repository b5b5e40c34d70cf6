"""Prices and promotions, computed with Decimal on the shop's date (docs/knowledge-format.md §5).

The steps, in order:

1. A promotion counts on a day when ``starts <= day <= ends`` (the shop's local date).
2. Each unit starts at its regular price: the variant's ``sale_price`` if set, else its price.
3. Item deals; each unit gets at most one, taken in this order:
   a. bundles: as many complete bundles as the cart holds; a bundle's price is shared over
      its items in proportion to their regular prices (rounded half up to cents, the last
      item taking what is left so the shares add up to the bundle price exactly);
   b. ``n_for_m``: the promotion's units still unpriced, dearest first, in groups of
      ``buy``; in each full group the ``buy - pay`` cheapest are free;
   c. ``percent_off`` / ``amount_off``: each remaining unit gets the single best one that
      applies (no stacking); percent prices round half up to cents; ``amount_off`` needs
      ``min_quantity`` units of its scope in the cart and never goes below zero.
4. The subtotal is the sum of every unit's price after step 3.
5. Order stage: of the spend thresholds, the highest tier whose ``spend`` the subtotal of
   the promotion's items reaches takes ``off`` off the order (one spend threshold at most:
   the one that takes most off).

Shipping is not part of a quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from core.knowledge.model import (
    Knowledge,
    Product,
    Promotion,
    PromotionKind,
    Variant,
    round_money,
)

HUNDRED = Decimal(100)
ZERO = Decimal(0)
UNIT_DEALS = (PromotionKind.PERCENT_OFF, PromotionKind.AMOUNT_OFF)
# Deals a customer reaches by buying more (not spend thresholds: those apply to any order).
QUANTITY_DEALS = (PromotionKind.N_FOR_M, PromotionKind.BUNDLE, *UNIT_DEALS)


@dataclass(frozen=True, slots=True)
class LineQuote:
    """One cart line of a quote.

    Attributes:
        list_price: The regular unit price (step 2), what a price answer states first.
        unit_price: What one unit costs after item deals (the line total shared evenly).
        promotion: The per-unit deal (percent/amount off) applied, if any.
        line_total: What the line costs after item deals (exact, before the order stage).
        deals: Every promotion that priced some of its units (bundle, n_for_m, per unit).
    """

    product: Product
    quantity: int
    list_price: Decimal
    unit_price: Decimal
    promotion: Promotion | None
    variant: Variant | None = None
    line_total: Decimal = ZERO
    deals: tuple[Promotion, ...] = ()

    @property
    def subtotal(self) -> Decimal:
        return self.line_total


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of some items on a day.

    Attributes:
        today: The date the promotions were evaluated on.
        lines: Per-line prices after item deals.
        subtotal: Sum of the lines (step 4).
        order_promotion: The spend threshold applied, if any (step 5).
        order_discount: What it took off.
        total: What the customer pays (shipping excluded).
        upcoming: Promotions for these items that start after ``today``.
        expired: Promotions for these items that already ended.
        available: Deals for these items running ``today`` that these quantities did not
            reach (buy 3 pay 2 for one unit, a bundle without its partner, an amount off
            from N units): worth telling a customer who asks the price of one.
    """

    today: date
    lines: tuple[LineQuote, ...]
    subtotal: Decimal
    order_promotion: Promotion | None
    order_discount: Decimal
    total: Decimal
    upcoming: tuple[Promotion, ...]
    expired: tuple[Promotion, ...]
    available: tuple[Promotion, ...] = ()


@dataclass(slots=True)
class _Line:
    """A cart line being priced: how many units are still unpriced and what the rest cost."""

    product: Product
    variant: Variant | None
    quantity: int
    left: int
    total: Decimal = ZERO
    deals: list[Promotion] = field(default_factory=list)
    unit_deal: Promotion | None = None

    @property
    def regular(self) -> Decimal:
        return self.product.regular_price(self.variant)

    def names(self, sku: str) -> bool:
        return sku == self.product.sku or (self.variant is not None and self.variant.sku == sku)

    def price_the_rest(self, unit_price: Decimal, deal: Promotion | None) -> None:
        """Step 3c: every unit still unpriced costs ``unit_price`` (``deal`` made it so)."""
        self.unit_deal = deal
        self.take(self.left, unit_price * self.left, deal)

    def take(self, units: int, cost: Decimal, deal: Promotion | None) -> None:
        self.left -= units
        self.total += cost
        if deal is not None and deal not in self.deals:
            self.deals.append(deal)


def discounted(price: Decimal, percent_off: Decimal) -> Decimal:
    """``price`` less ``percent_off`` percent, rounded half-up to cents."""
    return round_money(price * (HUNDRED - percent_off) / HUNDRED)


def _unit_price(promotion: Promotion, regular: Decimal) -> Decimal:
    if promotion.kind is PromotionKind.PERCENT_OFF:
        return discounted(regular, promotion.percent_off)
    return max(regular - promotion.amount_off, ZERO)


def _in_scope(promotion: Promotion, line: _Line) -> bool:
    return promotion.applies_to(line.product, line.variant)


def _apply_bundle(bundle: Promotion, lines: list[_Line]) -> None:
    def units_of(sku: str) -> int:
        return sum(line.left for line in lines if line.names(sku))

    count = min((units_of(i.sku) // i.quantity for i in bundle.items), default=0)
    if not count:
        return
    regulars = [
        next(line.regular for line in lines if line.names(i.sku)) * i.quantity for i in bundle.items
    ]
    whole = sum(regulars, ZERO)
    shares = [round_money(bundle.bundle_price * r / whole) for r in regulars[:-1]]
    shares.append(bundle.bundle_price - sum(shares, ZERO))
    for item, share in zip(bundle.items, shares, strict=True):
        needed = item.quantity * count
        for line in (line for line in lines if line.names(item.sku)):
            units = min(line.left, needed)
            if units:
                line.take(units, share * count * units / (item.quantity * count), bundle)
                needed -= units


def _apply_n_for_m(promotion: Promotion, lines: list[_Line]) -> None:
    units = sorted(
        ((line.regular, n) for n, line in enumerate(lines) if _in_scope(promotion, line)
         for _ in range(line.left)),
        key=lambda unit: -unit[0],
    )  # fmt: skip
    groups = len(units) // promotion.buy
    for g in range(groups):
        group = units[g * promotion.buy : (g + 1) * promotion.buy]
        for rank, (price, n) in enumerate(group):
            free = rank >= promotion.pay
            lines[n].take(1, ZERO if free else price, promotion)


def _apply_unit_deals(promotions: Sequence[Promotion], lines: list[_Line]) -> None:
    for line in lines:
        if not line.left:
            continue
        best, price = None, line.regular
        for promo in promotions:
            if promo.kind not in UNIT_DEALS or not _in_scope(promo, line):
                continue
            in_scope = sum(other.quantity for other in lines if _in_scope(promo, other))
            if in_scope < promo.min_quantity:
                continue
            candidate = _unit_price(promo, line.regular)
            if candidate < price:
                best, price = promo, candidate
        line.price_the_rest(price, best)


def _order_stage(
    promotions: Sequence[Promotion], lines: Sequence[_Line]
) -> tuple[Promotion | None, Decimal]:
    best: tuple[Promotion | None, Decimal] = (None, ZERO)
    for promo in promotions:
        if promo.kind is not PromotionKind.SPEND_THRESHOLD:
            continue
        spent = sum((line.total for line in lines if _in_scope(promo, line)), ZERO)
        off = max((t.off for t in promo.tiers if spent >= t.spend), default=ZERO)
        if off > best[1]:
            best = (promo, off)
    return best


CartItem = tuple[Product, int] | tuple[Product, Variant | None, int]


def _cart(items: Sequence[CartItem]) -> list[_Line]:
    lines = []
    for item in items:
        if len(item) == 2:
            product, quantity = item
            only = product.variants[0] if len(product.variants) == 1 else None
            variant = only
        else:
            product, variant, quantity = item
        if quantity < 1:
            raise ValueError("quantities must be at least 1")
        lines.append(_Line(product, variant, quantity, quantity))
    return lines


def quote(items: Sequence[CartItem], promotions: Sequence[Promotion], today: date) -> Quote:
    """Price ``items`` — ``(product, quantity)`` or ``(product, variant, quantity)`` — with
    the promotions valid on ``today`` (§5 steps 1-5).

    A product given without a variant is priced at its ``price`` (its lowest list price).

    Raises:
        ValueError: a quantity below 1 (a programming error; callers parse quantities).
    """
    lines = _cart(items)
    active = [p for p in promotions if p.is_active(today)]
    for promo in active:
        if promo.kind is PromotionKind.BUNDLE:
            _apply_bundle(promo, lines)
    for promo in active:
        if promo.kind is PromotionKind.N_FOR_M:
            _apply_n_for_m(promo, lines)
    _apply_unit_deals(active, lines)
    subtotal = round_money(sum((line.total for line in lines), ZERO))
    order_promo, discount = _order_stage(active, lines)
    relevant = [p for p in promotions if any(_in_scope(p, line) for line in lines)]
    applied = {d.id for line in lines for d in line.deals}
    if order_promo is not None:
        applied.add(order_promo.id)
    available = tuple(
        p for p in active if p in relevant and p.id not in applied and p.kind in QUANTITY_DEALS
    )
    return Quote(
        today=today,
        lines=tuple(_line_quote(line) for line in lines),
        subtotal=subtotal,
        order_promotion=order_promo,
        order_discount=round_money(discount),
        total=round_money(subtotal - discount),
        upcoming=tuple(sorted((p for p in relevant if p.starts > today), key=lambda p: p.starts)),
        expired=tuple(sorted((p for p in relevant if p.ends < today), key=lambda p: p.ends)),
        available=available,
    )


def _line_quote(line: _Line) -> LineQuote:
    total = round_money(line.total)
    return LineQuote(
        product=line.product,
        quantity=line.quantity,
        list_price=line.regular,
        unit_price=round_money(total / line.quantity),
        promotion=line.unit_deal,
        variant=line.variant,
        line_total=total,
        deals=tuple(line.deals),
    )


def quote_skus(knowledge: Knowledge, items: Sequence[tuple[str, int]], today: date) -> Quote:
    """Price ``(sku, quantity)`` pairs; a SKU is a variant's, or a product's without options.

    Raises:
        KeyError: a SKU that names no variant (unknown, or a product with several variants).
        ValueError: a quantity below 1.
    """
    cart: list[CartItem] = []
    for sku, quantity in items:
        found = knowledge.variant(sku)
        if found is None:
            raise KeyError(f"no variant with SKU {sku}")
        cart.append((found[0], found[1], quantity))
    return quote(cart, knowledge.promotions, today)


def best_item_promotion(
    product: Product, promotions: Sequence[Promotion], today: date
) -> Promotion | None:
    """The active per-unit promotion (percent or amount off) that makes ``product`` cheapest."""
    line = _cart([(product, 1)])
    _apply_unit_deals([p for p in promotions if p.is_active(today)], line)
    return line[0].unit_deal


def zh_discount(percent_off: Decimal) -> str:
    """20 -> "8折", 15 -> "8.5折" (Chinese shops state what you pay, in tenths)."""
    tenths = (HUNDRED - percent_off) / 10
    return f"{tenths.normalize():f}折"
