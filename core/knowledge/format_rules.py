"""Pydantic schemas of promotions.yaml and orders.yaml (format 2); see docs/knowledge-format.md."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from core.knowledge.format import Id, LocalText, Money, Sku, Strict, Text
from core.knowledge.model import OrderStatus, PromotionKind, RefundStatus

# Which keys each kind of promotion needs (all of them) and accepts (besides the common ones).
KIND_FIELDS: dict[PromotionKind, tuple[set[str], set[str]]] = {
    PromotionKind.PERCENT_OFF: ({"percent"}, {"min_quantity"}),
    PromotionKind.AMOUNT_OFF: ({"amount"}, {"min_quantity"}),
    PromotionKind.N_FOR_M: ({"buy", "pay"}, set()),
    PromotionKind.SPEND_THRESHOLD: ({"tiers"}, set()),
    PromotionKind.BUNDLE: ({"items", "price"}, set()),
}
SPECIFIC = {"percent", "amount", "min_quantity", "buy", "pay", "tiers", "items", "price"}


class TierIn(Strict):
    spend: Money
    off: Money = Field(gt=0)

    @model_validator(mode="after")
    def _off_below_spend(self) -> TierIn:
        if self.off >= self.spend:
            raise ValueError(f"off ({self.off}) must be smaller than spend ({self.spend})")
        return self


class BundleItemIn(Strict):
    sku: Sku
    quantity: int = Field(1, ge=1, le=99)


class PromotionIn(Strict):
    id: Id
    name: LocalText
    kind: PromotionKind
    starts: date
    ends: date
    aliases: list[Text] = Field(default_factory=list)
    description: LocalText | None = None
    skus: list[Sku] = Field(default_factory=list)
    categories: list[Text] = Field(default_factory=list)
    percent: Decimal | None = Field(default=None, gt=0, lt=100, decimal_places=2)
    amount: Money | None = Field(default=None, gt=0)
    min_quantity: int | None = Field(default=None, ge=1, le=999)
    buy: int | None = Field(default=None, ge=2, le=99)
    pay: int | None = Field(default=None, ge=1, le=98)
    tiers: list[TierIn] | None = Field(default=None, min_length=1)
    items: list[BundleItemIn] | None = Field(default=None, min_length=1)
    price: Money | None = None

    @model_validator(mode="after")
    def _rules_fit_kind(self) -> PromotionIn:
        if self.ends < self.starts:
            raise ValueError(f"ends ({self.ends}) is before starts ({self.starts})")
        needed, allowed = KIND_FIELDS[self.kind]
        given = {name for name in SPECIFIC if getattr(self, name) is not None}
        if missing := sorted(needed - given):
            raise ValueError(f"a {self.kind.value} promotion needs {', '.join(missing)}")
        if extra := sorted(given - needed - allowed):
            raise ValueError(f"{', '.join(extra)} is not used by a {self.kind.value} promotion")
        if self.kind is PromotionKind.N_FOR_M and (self.pay or 0) >= (self.buy or 0):
            raise ValueError(f"pay ({self.pay}) must be less than buy ({self.buy})")
        if self.kind is PromotionKind.BUNDLE:
            if self.skus or self.categories:
                raise ValueError("a bundle names its items; skus/categories are not used")
            if sum(i.quantity for i in self.items or []) < 2:
                raise ValueError("a bundle needs at least two units")
        if self.tiers:
            self._check_tiers(self.tiers)
        return self

    @staticmethod
    def _check_tiers(tiers: list[TierIn]) -> None:
        for low, high in pairwise(tiers):
            if high.spend <= low.spend or high.off <= low.off:
                raise ValueError("tiers must rise: each spends and takes off more than the last")


class PromotionsFile(Strict):
    promotions: list[PromotionIn] = Field(default_factory=list)


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
    id: Id
    name: Text
    identities: IdentityMap


class OrderItemIn(Strict):
    sku: Sku
    quantity: int = Field(ge=1, le=999)
    unit_price: Money


class RefundIn(Strict):
    status: RefundStatus
    amount: Money
    date: date
    reason: LocalText | None = None


class OrderIn(Strict):
    order_no: Text
    customer: Id
    items: list[OrderItemIn] = Field(min_length=1)
    status: OrderStatus
    placed: date
    total: Money
    ship_by: date | None = None
    shipped: date | None = None
    delivered: date | None = None
    estimated_delivery: date | None = None
    carrier: str = ""
    tracking: str = ""
    refund: RefundIn | None = None

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
        if self.refund and self.refund.date < self.placed:
            raise ValueError("the refund is dated before the order was placed")
        return self


class OrdersFile(Strict):
    customers: list[CustomerIn] = Field(default_factory=list)
    orders: list[OrderIn] = Field(default_factory=list)
