"""The shop's knowledge as typed, frozen values (what the loader produces and tools read).

Files are validated with pydantic in :mod:`core.knowledge.format`; everything past the
loader works on these dataclasses only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from pathlib import Path

from core.texts import Language

CENT = Decimal("0.01")


def round_money(amount: Decimal) -> Decimal:
    """Round to cents, half up (shop receipts round 0.005 up, not to even)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Localized:
    """A text in Chinese and English."""

    zh: str
    en: str

    def get(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en

    @property
    def both(self) -> str:
        return self.zh if self.zh == self.en else f"{self.en} / {self.zh}"


@dataclass(frozen=True, slots=True)
class ShopInfo:
    """Shop-wide settings from ``shop.yaml``."""

    name: Localized
    currency: str = "CNY"
    currency_symbol: str = "¥"
    timezone: str = "Asia/Shanghai"
    contact: Localized | None = None  # how customers reach a person (phone, email, hours)

    def money(self, amount: Decimal) -> str:
        """``Decimal("239.2")`` -> ``"¥239.20"``."""
        return f"{self.currency_symbol}{round_money(amount)}"


@dataclass(frozen=True, slots=True)
class Variant:
    """One orderable variant of a product (a size, optionally a colour) and its stock."""

    size: str
    color: str
    stock: int


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog entry."""

    sku: str
    name: Localized
    category: str
    category_name: Localized
    price: Decimal
    variants: tuple[Variant, ...]
    attributes: tuple[tuple[str, Localized], ...] = ()
    description: Localized = Localized("", "")
    tags: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return f"catalog:{self.sku}"

    @property
    def total_stock(self) -> int:
        return sum(v.stock for v in self.variants)

    def variants_of_size(self, size: str) -> tuple[Variant, ...]:
        wanted = size.strip().upper()
        return tuple(v for v in self.variants if v.size.upper() == wanted)


class PromotionKind(StrEnum):
    PERCENT_OFF = "percent_off"  # per item, e.g. 20% off outerwear
    AMOUNT_OFF_OVER = "amount_off_over"  # per order, e.g. ¥100 off orders over ¥599


@dataclass(frozen=True, slots=True)
class Promotion:
    """A dated promotion rule. Valid from ``starts`` to ``ends`` inclusive (shop's local dates)."""

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
    description: Localized = Localized("", "")

    @property
    def source(self) -> str:
        return f"promo:{self.id}"

    def is_active(self, today: date) -> bool:
        return self.starts <= today <= self.ends

    def applies_to(self, product: Product) -> bool:
        """Whole-shop when neither SKUs nor categories are listed."""
        if not self.skus and not self.categories:
            return True
        return product.sku in self.skus or product.category in self.categories


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    question: Localized
    answer: Localized
    tags: tuple[str, ...] = ()

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
class Identity:
    """A verified platform identity: ``("telegram", "1001")``, ``("webhook:demo", "cust-7788")``."""

    platform: str
    user_id: str


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURN_REQUESTED = "return_requested"
    REFUNDED = "refunded"


STATUS_NAMES: dict[OrderStatus, Localized] = {
    OrderStatus.PENDING_PAYMENT: Localized("待付款", "awaiting payment"),
    OrderStatus.PAID: Localized("已付款，待发货", "paid, not yet shipped"),
    OrderStatus.PROCESSING: Localized("备货中", "being packed"),
    OrderStatus.SHIPPED: Localized("已发货", "shipped"),
    OrderStatus.DELIVERED: Localized("已签收", "delivered"),
    OrderStatus.CANCELLED: Localized("已取消", "cancelled"),
    OrderStatus.RETURN_REQUESTED: Localized("退货处理中", "return in progress"),
    OrderStatus.REFUNDED: Localized("已退款", "refunded"),
}


@dataclass(frozen=True, slots=True)
class OrderItem:
    sku: str
    name: Localized
    size: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return round_money(self.unit_price * self.quantity)


@dataclass(frozen=True, slots=True)
class Order:
    """An order and the platform identities of the customer who placed it."""

    order_no: str
    customer_id: str
    identities: frozenset[Identity]
    items: tuple[OrderItem, ...]
    status: OrderStatus
    placed: date
    total: Decimal
    shipped: date | None = None
    delivered: date | None = None
    carrier: str = ""
    tracking: str = ""
    estimated_delivery: date | None = None

    def belongs_to(self, identity: Identity) -> bool:
        return identity in self.identities


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    identities: frozenset[Identity]


@dataclass(frozen=True, slots=True)
class Knowledge:
    """Everything loaded from one knowledge folder, validated as a whole."""

    folder: Path
    shop: ShopInfo
    products: tuple[Product, ...]
    promotions: tuple[Promotion, ...]
    faq: tuple[FaqEntry, ...]
    policies: tuple[PolicySection, ...]
    customers: tuple[Customer, ...] = ()
    orders: tuple[Order, ...] = ()
    _by_sku: dict[str, Product] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_sku.update({p.sku: p for p in self.products})

    def product(self, sku: str) -> Product | None:
        return self._by_sku.get(sku.upper())
