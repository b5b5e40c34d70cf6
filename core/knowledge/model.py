"""The shop's knowledge as typed, frozen values (what the loader produces and tools read).

Files are validated with pydantic in :mod:`core.knowledge.format` (format 2, see
docs/knowledge-format.md); everything past the loader works on these dataclasses only.
Orders and customers live in :mod:`core.knowledge.ordermodel` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from core.knowledge.ordermodel import (
    REFUND_NAMES,
    STATUS_NAMES,
    Customer,
    Identity,
    Order,
    OrderItem,
    OrderStatus,
    Refund,
    RefundStatus,
)
from core.knowledge.values import CENT, Localized, round_money
from core.texts import Language

NO_TEXT = Localized("", "")

__all__ = [
    "CENT",
    "REFUND_NAMES",
    "STATUS_NAMES",
    "BundleItem",
    "Customer",
    "FaqEntry",
    "Identity",
    "Knowledge",
    "Localized",
    "OptionValue",
    "Order",
    "OrderItem",
    "OrderStatus",
    "PolicySection",
    "Product",
    "ProductStatus",
    "Promotion",
    "PromotionKind",
    "Refund",
    "RefundStatus",
    "ShopInfo",
    "Spec",
    "Tier",
    "Variant",
    "round_money",
]


@dataclass(frozen=True, slots=True)
class ShopInfo:
    """The shop profile from ``shop.yaml``.

    Attributes:
        persona: How the assistant introduces itself (None: the bot.yaml persona is used).
        contact: ``(kind, value)`` pairs in file order, e.g. ``("phone", "400-860-2626")``.
        order_number_pattern: Regular expression an order number matches in full.
        order_number_example: One order number in that form (shown when asking for one).
    """

    name: Localized
    currency: str = "CNY"
    currency_symbol: str = "¥"
    timezone: str = "Asia/Shanghai"
    persona: Localized | None = None
    languages: tuple[Language, ...] = ("zh", "en")
    hours: Localized | None = None
    contact: tuple[tuple[str, str], ...] = ()
    order_number_pattern: str = r"SO\d{8}-\d{4}"
    order_number_example: str = "SO20261102-0042"

    def money(self, amount: Decimal) -> str:
        """``Decimal("239.2")`` -> ``"¥239.20"``."""
        return f"{self.currency_symbol}{round_money(amount)}"


@dataclass(frozen=True, slots=True)
class OptionValue:
    """One option of a variant: ``("color", Localized("黑色", "Black"))``."""

    name: str
    value: Localized


@dataclass(frozen=True, slots=True)
class Variant:
    """One orderable variant of a product and its stock.

    ``size`` and ``color`` are kept for callers that know only clothes: ``size`` is the
    ``size`` option (else the first option that is not a colour, else ``"ONE"``) and
    ``color`` the English ``color``/``colour`` option (else ``""``). ``options`` holds every
    option. ``price`` is the regular list price (None only for hand-built values: the
    product's price applies); ``sale_price`` replaces it when set.
    """

    size: str
    color: str
    stock: int
    sku: str = ""
    price: Decimal | None = None
    sale_price: Decimal | None = None
    restock: date | None = None
    options: tuple[OptionValue, ...] = ()

    @property
    def label(self) -> Localized:
        """``13-inch / Grey``; empty for a product without options."""
        return Localized(
            " / ".join(o.value.zh for o in self.options),
            " / ".join(o.value.en for o in self.options),
        )

    def option(self, name: str) -> Localized | None:
        return next((o.value for o in self.options if o.name == name), None)


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DISCONTINUED = "discontinued"  # answered as "no longer sold", never offered
    DRAFT = "draft"  # not shown to customers
    ARCHIVED = "archived"  # not shown to customers; old orders may still name it


@dataclass(frozen=True, slots=True)
class Spec:
    """A product fact written as text: ``shelf life: 18 months``, ``Bluetooth: 5.3``."""

    key: str
    label: Localized
    value: Localized


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog entry. A product without options has one variant carrying its SKU.

    ``price`` is the lowest regular list price of its variants (the "from" price);
    ``attributes`` lists every spec as ``(key, value)`` for callers that want no labels.
    """

    sku: str
    name: Localized
    category: str
    category_name: Localized
    price: Decimal
    variants: tuple[Variant, ...]
    attributes: tuple[tuple[str, Localized], ...] = ()
    description: Localized = NO_TEXT
    tags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    brand: str = ""
    options: tuple[str, ...] = ()
    specs: tuple[Spec, ...] = ()
    warranty: Localized | None = None
    restock: date | None = None
    status: ProductStatus = ProductStatus.ACTIVE

    @property
    def source(self) -> str:
        return f"catalog:{self.sku}"

    @property
    def total_stock(self) -> int:
        return sum(v.stock for v in self.variants)

    @property
    def sold(self) -> bool:
        """Offered to customers (not discontinued, draft or archived)."""
        return self.status is ProductStatus.ACTIVE

    def variants_of_size(self, size: str) -> tuple[Variant, ...]:
        wanted = size.strip().upper()
        return tuple(v for v in self.variants if v.size.upper() == wanted)

    def variant(self, sku: str) -> Variant | None:
        wanted = sku.strip().upper()
        return next((v for v in self.variants if v.sku == wanted), None)

    def list_price(self, variant: Variant | None = None) -> Decimal:
        """The list price (before a sale price)."""
        return variant.price if variant is not None and variant.price is not None else self.price

    def regular_price(self, variant: Variant | None = None) -> Decimal:
        """What one unit costs before promotions: the sale price if set, else the list price."""
        if variant is not None and variant.sale_price is not None:
            return variant.sale_price
        return self.list_price(variant)

    def restock_of(self, variant: Variant) -> date | None:
        """When an out-of-stock variant comes back (its own date, else the product's)."""
        return variant.restock or self.restock


class PromotionKind(StrEnum):
    PERCENT_OFF = "percent_off"  # per unit: 20% off outerwear
    AMOUNT_OFF = "amount_off"  # per unit: ¥20 off each power bank (optionally from N units)
    N_FOR_M = "n_for_m"  # buy 3 pay 2: the cheapest unit of every 3 is free
    SPEND_THRESHOLD = "spend_threshold"  # per order: ¥20 off from ¥199, ¥60 off from ¥399
    BUNDLE = "bundle"  # these items together for one price


@dataclass(frozen=True, slots=True)
class Tier:
    """Spend at least ``spend`` (after item deals) and ``off`` comes off the order."""

    spend: Decimal
    off: Decimal


@dataclass(frozen=True, slots=True)
class BundleItem:
    sku: str
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class Promotion:
    """A dated promotion rule. Valid from ``starts`` to ``ends`` inclusive (shop's local dates).

    ``threshold`` / ``amount_off`` of a spend-threshold promotion are its lowest tier (kept
    for callers that know one tier); ``tiers`` holds them all.
    """

    id: str
    name: Localized
    kind: PromotionKind
    starts: date
    ends: date
    percent_off: Decimal = Decimal(0)
    amount_off: Decimal = Decimal(0)
    threshold: Decimal = Decimal(0)
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    description: Localized = NO_TEXT
    aliases: tuple[str, ...] = ()
    min_quantity: int = 1
    buy: int = 0
    pay: int = 0
    tiers: tuple[Tier, ...] = ()
    items: tuple[BundleItem, ...] = ()
    bundle_price: Decimal = Decimal(0)

    @property
    def source(self) -> str:
        return f"promo:{self.id}"

    def is_active(self, today: date) -> bool:
        return self.starts <= today <= self.ends

    def has_ended(self, today: date) -> bool:
        return self.ends < today

    def is_upcoming(self, today: date) -> bool:
        return today < self.starts

    @property
    def whole_shop(self) -> bool:
        return not self.skus and not self.categories and self.kind is not PromotionKind.BUNDLE

    def applies_to(self, product: Product, variant: Variant | None = None) -> bool:
        """Whole-shop when neither SKUs nor categories are listed; a bundle names its items."""
        if self.kind is PromotionKind.BUNDLE:
            item_skus = {i.sku for i in self.items}
            return product.sku in item_skus or any(v.sku in item_skus for v in product.variants)
        if self.whole_shop:
            return True
        if product.sku in self.skus or product.category in self.categories:
            return True
        if variant is not None:
            return variant.sku in self.skus
        return any(v.sku in self.skus for v in product.variants)


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    question: Localized
    answer: Localized
    tags: tuple[str, ...] = ()
    paraphrases: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return f"faq:{self.id}"


@dataclass(frozen=True, slots=True)
class PolicySection:
    """One heading-delimited chunk of a policy Markdown file."""

    document: str  # file stem, e.g. "returns"
    slug: str
    heading: str
    text: str

    @property
    def source(self) -> str:
        return f"policy:{self.document}#{self.slug}"


@dataclass(frozen=True, slots=True)
class Knowledge:
    """Everything loaded from one knowledge folder, validated as a whole.

    ``products`` holds what customers may ask about (active and discontinued); ``hidden``
    holds draft and archived products, found by :meth:`product` for old orders only.
    """

    folder: Path
    shop: ShopInfo
    products: tuple[Product, ...]
    promotions: tuple[Promotion, ...]
    faq: tuple[FaqEntry, ...]
    policies: tuple[PolicySection, ...]
    customers: tuple[Customer, ...] = ()
    orders: tuple[Order, ...] = ()
    categories: tuple[tuple[str, Localized], ...] = ()
    hidden: tuple[Product, ...] = ()
    _by_sku: dict[str, Product] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for product in (*self.hidden, *self.products):
            self._by_sku.update({v.sku: product for v in product.variants if v.sku})
            self._by_sku[product.sku] = product

    def product(self, sku: str) -> Product | None:
        """The product with this product SKU or variant SKU (case-insensitive)."""
        return self._by_sku.get(sku.strip().upper())

    def variant(self, sku: str) -> tuple[Product, Variant] | None:
        """The product and variant a variant SKU names (a product SKU of a product without
        options names its only variant)."""
        product = self.product(sku)
        if product is None:
            return None
        variant = product.variant(sku)
        if variant is None and len(product.variants) == 1 and not product.options:
            variant = product.variants[0]
        return (product, variant) if variant is not None else None

    def promotion(self, promotion_id: str) -> Promotion | None:
        return next((p for p in self.promotions if p.id == promotion_id), None)
