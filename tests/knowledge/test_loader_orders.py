"""Orders: numbers in the shop's form, items naming variants, customers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.knowledge.test_loader import _mini, _problems


def test_order_number_must_match_the_pattern(mini_folder: Callable[..., Path]) -> None:
    orders = _mini("orders.yaml").replace("SO20261102-0042", "SO-42")
    assert "orders.yaml:5: orders[0].order_no: SO-42 does not match" in _problems(
        mini_folder(orders_yaml=orders)
    )


def test_an_order_must_name_a_variant(mini_folder: Callable[..., Path]) -> None:
    orders = _mini("orders.yaml").replace("sku: JK-1-M", "sku: JK-1")
    assert "orders[0].items[0].sku: JK-1 has variants: name one (JK-1-M, JK-1-L)" in _problems(
        mini_folder(orders_yaml=orders)
    )
