"""Products, variants and promotions: what the loader checks beyond the schemas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.knowledge.test_loader import _mini, _problems


def test_unknown_sku_in_a_promotion_and_variant_problems(mini_folder: Callable[..., Path]) -> None:
    promos = _mini("promotions.yaml").replace("categories: [outerwear]", "skus: [JK-9]")
    catalog = _mini("catalog.yaml").replace(
        "{size: L, sku: JK-1-L, stock: 0}", "{size: L, colour: red, sku: JK-1-M, stock: 0}"
    )
    message = _problems(mini_folder(promotions_yaml=promos, catalog_yaml=catalog))
    assert "promotions.yaml:6: promotions[0].skus[0]: unknown SKU JK-9" in message
    assert (
        "catalog.yaml:12: products[0].variants[1].colour: unknown key colour (options: size)"
        in message
    )
    assert "catalog.yaml:12: products[0].variants[1].sku: duplicate SKU JK-1-M" in message


def test_overlapping_spend_thresholds_and_invalid_windows(mini_folder: Callable[..., Path]) -> None:
    spend = """
  - id: {id}
    name: Spend
    kind: spend_threshold
    tiers: [{{spend: 199, off: 20}}]
    starts: {starts}
    ends: 2026-11-30
"""
    promos = (
        _mini("promotions.yaml")
        + spend.format(id="A", starts="2026-11-01")
        + spend.format(id="B", starts="2026-11-20")
    )
    message = _problems(mini_folder(promotions_yaml=promos))
    assert "promotions[2].starts: overlaps spend threshold A on 2026-11-20" in message
    message = _problems(
        mini_folder(promotions_yaml=promos + spend.format(id="C", starts="2026-12-24"))
    )
    assert "promotions[3]: Value error, ends (2026-11-30) is before starts (2026-12-24)" in message


def test_a_product_without_variants_needs_price_and_stock(mini_folder: Callable[..., Path]) -> None:
    catalog = _mini("catalog.yaml").replace("    price: 99.00\n    stock: 5\n", "")
    message = _problems(mini_folder(catalog_yaml=catalog))
    assert "products[1]: price is missing" in message
    assert "products[1]: stock is missing" in message
