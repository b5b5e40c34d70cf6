"""Pydantic schemas of the knowledge files (the I/O edge); see docs/knowledge-format.md.

Each schema validates one file's raw data as produced by :mod:`core.knowledge.yamlsrc`
(scalars arrive as strings and are parsed here). Cross-file checks (an order's SKU exists,
a promotion's category exists) live in :mod:`core.knowledge.loader`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.knowledge.model import OrderStatus, PromotionKind


def _to_text(value: Any) -> Any:
    return str(value) if isinstance(value, int | float | Decimal) else value


Text = Annotated[
    str, BeforeValidator(_to_text), StringConstraints(strip_whitespace=True, min_length=1)
]
Sku = Annotated[
    str,
    BeforeValidator(_to_text),
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$"),
]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedIn(Strict):
    """``{zh: ..., en: ...}``; both languages are required."""

    zh: Text
    en: Text


def _text_or_localized(value: Any) -> Any:
    # An attribute may be one plain value for both languages ("42", "EU 42").
    if isinstance(value, str):
        return {"zh": value, "en": value}
    return value


AttributeValue = Annotated[LocalizedIn, BeforeValidator(_text_or_localized)]


class ShopFile(Strict):
    name: LocalizedIn
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"
    currency_symbol: Text = "¥"
    timezone: Text = "Asia/Shanghai"
    contact: LocalizedIn | None = None  # how customers reach a person when no desk can


class VariantIn(Strict):
    size: Text
    color: Text | None = None
    stock: int = Field(ge=0)


class ProductIn(Strict):
    sku: Sku
    name: LocalizedIn
    category: Text
    price: Money
    variants: list[VariantIn] = Field(min_length=1)
    attributes: dict[str, AttributeValue] = {}
    description: LocalizedIn | None = None
    tags: list[Text] = []

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, variants: list[VariantIn]) -> list[VariantIn]:
        seen: set[tuple[str, str]] = set()
        for variant in variants:
            key = (variant.size.upper(), (variant.color or "").lower())
            if key in seen:
                raise ValueError(
                    f"variant size {variant.size} colour {variant.color or '-'} is listed twice"
                )
            seen.add(key)
        return variants


class CatalogFile(Strict):
    categories: dict[str, LocalizedIn] = Field(min_length=1)
    products: list[ProductIn] = Field(min_length=1)


class PromotionIn(Strict):
    id: Text
    name: LocalizedIn
    kind: PromotionKind
    starts: date
    ends: date
    percent_off: Decimal | None = Field(default=None, gt=0, lt=100)
    amount_off: Money | None = None
    threshold: Money | None = None
    skus: list[Sku] = []
    categories: list[Text] = []
    description: LocalizedIn | None = None

    @model_validator(mode="after")
    def _rules_fit_kind(self) -> PromotionIn:
        if self.ends < self.starts:
            raise ValueError(f"ends ({self.ends}) is before starts ({self.starts})")
        if self.kind is PromotionKind.PERCENT_OFF and self.percent_off is None:
            raise ValueError("a percent_off promotion needs percent_off (e.g. 20 for 20% off)")
        if self.kind is PromotionKind.AMOUNT_OFF_OVER:
            if self.amount_off is None or self.threshold is None:
                raise ValueError("an amount_off_over promotion needs amount_off and threshold")
            if self.amount_off >= self.threshold:
                raise ValueError("amount_off must be smaller than threshold")
        return self


class PromotionsFile(Strict):
    promotions: list[PromotionIn] = []


class FaqIn(Strict):
    id: Text
    question: LocalizedIn
    answer: LocalizedIn
    tags: list[Text] = []


class FaqFile(Strict):
    faq: list[FaqIn] = []


class IdentityMap(Strict):
    """Platform name -> the customer's user id(s) on it, as the platform verifies them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _ids_are_text(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise ValueError("identities must map a platform to a user id, e.g. {telegram: '1001'}")
        for platform, ids in value.items():
            items = ids if isinstance(ids, list) else [ids]
            if not items or not all(isinstance(i, str) and i.strip() for i in items):
                raise ValueError(f"identities.{platform} must be a user id or a list of user ids")
        return value

    def pairs(self) -> list[tuple[str, str]]:
        out = []
        for platform, ids in (self.model_extra or {}).items():
            for user_id in ids if isinstance(ids, list) else [ids]:
                out.append((platform, user_id.strip()))
        return out


class CustomerIn(Strict):
    id: Text
    name: Text
    identities: IdentityMap


class OrderItemIn(Strict):
    sku: Sku
    size: Text
    quantity: int = Field(ge=1, le=999)
    unit_price: Money


class OrderIn(Strict):
    order_no: Annotated[
        str,
        StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z]{1,4}\d{8}-\d{4}$"),
    ]
    customer: Text
    items: list[OrderItemIn] = Field(min_length=1)
    status: OrderStatus
    placed: date
    total: Money
    shipped: date | None = None
    delivered: date | None = None
    estimated_delivery: date | None = None
    carrier: str = ""
    tracking: str = ""

    @model_validator(mode="after")
    def _dates_and_tracking(self) -> OrderIn:
        if self.shipped and self.shipped < self.placed:
            raise ValueError("shipped is before placed")
        if self.delivered and (self.shipped is None or self.delivered < self.shipped):
            raise ValueError("delivered needs a shipped date on or before it")
        if self.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED) and not (
            self.shipped and self.tracking
        ):
            raise ValueError(f"a {self.status.value} order needs shipped and tracking")
        return self


class OrdersFile(Strict):
    customers: list[CustomerIn] = []
    orders: list[OrderIn] = []
