"""Order values: line totals, status and refund names in both languages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.knowledge.ordermodel import (
    REFUND_NAMES,
    STATUS_NAMES,
    OrderItem,
    OrderStatus,
    Refund,
    RefundStatus,
)
from core.knowledge.values import Localized


def test_every_status_and_refund_state_has_both_names() -> None:
    assert set(STATUS_NAMES) == set(OrderStatus)
    assert set(REFUND_NAMES) == set(RefundStatus)
    assert STATUS_NAMES[OrderStatus.RETURN_REQUESTED].en == "return in progress"
    assert REFUND_NAMES[RefundStatus.REQUESTED] == Localized("退款申请中", "refund requested")


def test_line_total_rounds_half_up() -> None:
    item = OrderItem("T-JAS", Localized("茉莉花茶", "Jasmine"), "ONE", 3, Decimal("0.335"))
    assert item.line_total == Decimal("1.01")  # 1.005


def test_a_refund_keeps_its_reason() -> None:
    refund = Refund(
        RefundStatus.REFUNDED, Decimal("78.00"), date(2026, 9, 6), Localized("破损", "broken")
    )
    assert refund.reason is not None and refund.reason.en == "broken"
