"""Build products and promotions from validated files, checking what pydantic cannot see.

Every problem is added to the caller's list as ``file:line: path: problem`` (the line of the
value at fault), so one run names all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import ValidationError

from core.knowledge.format import CatalogFile, LocalizedIn, ProductIn, SpecIn, VariantIn
from core.knowledge.format_rules import PromotionIn, PromotionsFile
from core.knowledge.model import (
    BundleItem,
    Localized,
    OptionValue,
    Product,
    ProductStatus,
    Promotion,
    PromotionKind,
    Spec,
    Tier,
    Variant,
)
from core.knowledge.yamlsrc import LocatedYaml

COLOUR_OPTIONS = ("color", "colour")
ZERO = Decimal(0)
Loc = tuple[str | int, ...]


class Problems:
    """Collects every problem so the owner sees all of them in one run."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def at(self, doc: LocatedYaml, loc: Sequence[str | int], problem: str) -> None:
        self.messages.append(doc.error(loc, problem).message)


def _option_value(raw: object) -> Localized:
    text = str(raw) if isinstance(raw, int | float) else raw
    if isinstance(text, str):
        return Localized(text.strip(), text.strip())
    return LocalizedIn.model_validate(text).value()


def _legacy_size_and_colour(options: tuple[OptionValue, ...]) -> tuple[str, str]:
    colour = next((o.value.en for o in options if o.name in COLOUR_OPTIONS), "")
    others = [o for o in options if o.name not in COLOUR_OPTIONS]
    size = next((o.value.en for o in others if o.name == "size"), None)
    return size or (others[0].value.en if others else "ONE"), colour


def _single_variant(item: ProductIn, doc: LocatedYaml, loc: Loc, problems: Problems) -> Variant:
    """A product written without variants: its price and stock are on the product."""
    if item.options:
        problems.at(doc, (*loc, "options"), "options are listed but there are no variants")
    if item.price is None:
        problems.at(doc, loc, "price is missing (a product without variants needs price)")
    if item.stock is None:
        problems.at(doc, loc, "stock is missing (a product without variants needs stock)")
    return Variant("ONE", "", item.stock or 0, item.sku, item.price, item.sale_price)


def _variant(
    item: ProductIn, v: VariantIn, doc: LocatedYaml, loc: Loc, problems: Problems
) -> Variant | None:
    values = v.option_values()
    wanted = set(item.options)
    if missing := sorted(wanted - set(values)):
        problems.at(doc, loc, f"option {', '.join(missing)} has no value")
    if unknown := sorted(set(values) - wanted):
        known = ", ".join(item.options) or "none"
        problems.at(doc, (*loc, unknown[0]), f"unknown key {', '.join(unknown)} (options: {known})")
    options = []
    for name in item.options:
        if name in values:
            try:
                options.append(OptionValue(name, _option_value(values[name])))
            except ValidationError:
                problems.at(doc, (*loc, name), "an option value is a text or {zh: ..., en: ...}")
    sku = v.sku or (item.sku if not item.options else None)
    price = v.price if v.price is not None else item.price
    sale = v.sale_price if v.sale_price is not None else item.sale_price
    if sku is None:
        problems.at(doc, loc, "sku is missing (every variant has its own SKU)")
    if price is None:
        problems.at(doc, loc, "price is missing (set it on the variant or on the product)")
    if v.stock is None:
        problems.at(doc, loc, "stock is missing")
    if price is not None and sale is not None and sale >= price:
        problems.at(doc, (*loc, "sale_price"), f"sale_price {sale} is not below price {price}")
    if sku is None or price is None:
        return None
    size, colour = _legacy_size_and_colour(tuple(options))
    return Variant(size, colour, v.stock or 0, sku, price, sale, v.restock, tuple(options))


def _variants(
    item: ProductIn, doc: LocatedYaml, loc: Loc, problems: Problems
) -> tuple[Variant, ...]:
    if not item.variants:
        return (_single_variant(item, doc, loc, problems),)
    if item.stock is not None:
        problems.at(doc, (*loc, "stock"), "stock belongs on each variant")
    if not item.options and len(item.variants) > 1:
        problems.at(doc, (*loc, "options"), "several variants need options saying how they differ")
    if len(set(item.options)) != len(item.options):
        problems.at(doc, (*loc, "options"), "an option is listed twice")
    variants: list[Variant] = []
    seen: dict[tuple[str, ...], int] = {}
    for index, raw in enumerate(item.variants):
        vloc = (*loc, "variants", index)
        variant = _variant(item, raw, doc, vloc, problems)
        if variant is None:
            continue
        key = tuple(o.value.en.lower() for o in variant.options)
        if key in seen and item.options:
            problems.at(doc, vloc, f"same options as variants[{seen[key]}]")
        seen.setdefault(key, index)
        variants.append(variant)
    return tuple(variants)


def _spec(key: str, spec: SpecIn) -> Spec:
    label = spec.label.value() if spec.label else Localized(key, key)
    return Spec(key, label, spec.value.value())


def build_products(
    catalog: CatalogFile, doc: LocatedYaml, problems: Problems
) -> tuple[Product, ...]:
    """Every product, hidden ones (draft, archived) included, in file order."""
    products: list[Product] = []
    taken: dict[str, str] = {}
    for index, item in enumerate(catalog.products):
        loc: Loc = ("products", index)
        category = catalog.categories.get(item.category)
        if category is None:
            known = ", ".join(sorted(catalog.categories))
            problems.at(
                doc, (*loc, "category"), f"unknown category '{item.category}' (known: {known})"
            )
        variants = _variants(item, doc, loc, problems)
        for sku, where in [(item.sku, (*loc, "sku"))] + [
            (v.sku, (*loc, "variants", i, "sku"))
            for i, v in enumerate(variants)
            if v.sku != item.sku
        ]:
            if sku in taken:
                problems.at(doc, where, f"duplicate SKU {sku} (also {taken[sku]})")
            taken.setdefault(sku, item.sku)
        prices = [v.price for v in variants if v.price is not None]
        if category is None or not prices:
            continue
        specs = tuple(_spec(k, s) for k, s in (*item.attributes.items(), *item.specs.items()))
        products.append(
            Product(
                sku=item.sku,
                name=item.name.value(),
                category=item.category,
                category_name=category.value(),
                price=min(prices),
                variants=variants,
                attributes=tuple((s.key, s.value) for s in specs),
                description=item.description.value() if item.description else Localized("", ""),
                tags=tuple(item.tags),
                aliases=tuple(item.aliases),
                brand=item.brand or "",
                options=tuple(item.options),
                specs=specs,
                warranty=item.warranty.value() if item.warranty else None,
                restock=item.restock,
                status=item.status,
            )
        )
    return tuple(products)


def visible(products: Sequence[Product]) -> tuple[Product, ...]:
    return tuple(
        p for p in products if p.status not in (ProductStatus.DRAFT, ProductStatus.ARCHIVED)
    )


def _promotion(item: PromotionIn) -> Promotion:
    tiers = tuple(Tier(t.spend, t.off) for t in item.tiers or [])
    return Promotion(
        id=item.id,
        name=item.name.value(),
        kind=item.kind,
        starts=item.starts,
        ends=item.ends,
        percent_off=item.percent if item.percent is not None else ZERO,
        amount_off=item.amount if item.amount is not None else (tiers[0].off if tiers else ZERO),
        threshold=tiers[0].spend if tiers else ZERO,
        skus=frozenset(item.skus),
        categories=frozenset(item.categories),
        description=item.description.value() if item.description else Localized("", ""),
        aliases=tuple(item.aliases),
        min_quantity=item.min_quantity or 1,
        buy=item.buy or 0,
        pay=item.pay or 0,
        tiers=tiers,
        items=tuple(BundleItem(i.sku, i.quantity) for i in item.items or []),
        bundle_price=item.price if item.price is not None else ZERO,
    )


def _check_scope(
    item: PromotionIn,
    loc: Loc,
    doc: LocatedYaml,
    skus: set[str],
    categories: set[str],
    problems: Problems,
) -> None:
    for pos, sku in enumerate(item.skus):
        if sku not in skus:
            problems.at(doc, (*loc, "skus", pos), f"unknown SKU {sku}")
    for pos, category in enumerate(item.categories):
        if category not in categories:
            problems.at(doc, (*loc, "categories", pos), f"unknown category {category}")
    for pos, bundle_item in enumerate(item.items or []):
        if bundle_item.sku not in skus:
            problems.at(doc, (*loc, "items", pos, "sku"), f"unknown SKU {bundle_item.sku}")


def _overlaps(a: Promotion, b: Promotion) -> bool:
    return a.starts <= b.ends and b.starts <= a.ends


def build_promotions(
    file: PromotionsFile,
    doc: LocatedYaml,
    skus: set[str],
    categories: set[str],
    problems: Problems,
) -> tuple[Promotion, ...]:
    """Promotions in file order. Two spend thresholds may not run on the same day: which
    one an order gets would be a guess (§5 applies one order-stage promotion)."""
    out: list[Promotion] = []
    seen: set[str] = set()
    for index, item in enumerate(file.promotions):
        loc: Loc = ("promotions", index)
        if item.id in seen:
            problems.at(doc, (*loc, "id"), f"duplicate promotion id {item.id}")
        seen.add(item.id)
        _check_scope(item, loc, doc, skus, categories, problems)
        promotion = _promotion(item)
        if promotion.kind is PromotionKind.SPEND_THRESHOLD:
            for other in out:
                if other.kind is PromotionKind.SPEND_THRESHOLD and _overlaps(promotion, other):
                    first = max(promotion.starts, other.starts)
                    problems.at(
                        doc,
                        (*loc, "starts"),
                        f"overlaps spend threshold {other.id} on {first}: "
                        "only one spend threshold may run on a day",
                    )
        out.append(promotion)
    return tuple(out)
