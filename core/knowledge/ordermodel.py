"""Orders, their refunds and the customers who may see them (typed, frozen values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from core.knowledge.values import Localized, round_money


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


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUNDED = "refunded"
    REJECTED = "rejected"


REFUND_NAMES: dict[RefundStatus, Localized] = {
    RefundStatus.REQUESTED: Localized("退款申请中", "refund requested"),
    RefundStatus.APPROVED: Localized("退款已同意", "refund approved"),
    RefundStatus.REFUNDED: Localized("已退款", "refunded"),
    RefundStatus.REJECTED: Localized("退款被拒绝", "refund declined"),
}


@dataclass(frozen=True, slots=True)
class Refund:
    """The refund of (part of) an order: requested on, or paid on, ``date``."""

    status: RefundStatus
    amount: Decimal
    date: date
    reason: Localized | None = None


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One line of an order. ``sku`` is what the order names (a variant SKU in format 2);
    ``product_sku`` the catalog product; ``size`` the variant's legacy size label."""

    sku: str
    name: Localized
    size: str
    quantity: int
    unit_price: Decimal
    product_sku: str = ""
    variant: Localized | None = None

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
    ship_by: date | None = None
    refund: Refund | None = None

    def belongs_to(self, identity: Identity) -> bool:
        return identity in self.identities


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    identities: frozenset[Identity]
