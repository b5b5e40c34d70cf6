"""Variant options named in a message: sizes, colours in either language, weights, packs."""

from __future__ import annotations

import pytest

from core.knowledge.options import blank_spans, chosen_variants
from tests.knowledge.shops import shop


def _chosen(name: str, sku: str, text: str) -> list[str]:
    product = shop(name).knowledge.product(sku)
    assert product is not None
    return [v.label.en for v in chosen_variants(text, product)]


@pytest.mark.parametrize(
    ("name", "sku", "text", "labels"),
    [
        ("electronics", "AEROBUDS-PRO", "白色有货吗", ["White"]),  # a Chinese colour word
        ("electronics", "URBAN-LAPTOP-SLEEVE", "in 14 inch navy", ["14-inch / Navy"]),
        ("electronics", "FLASHCORE-MICROSD", "那128G的呢", ["128GB"]),
        ("electronics", "SWIFTDRIVE-PORTABLE-SSD", "the 1TB one", ["1TB"]),
        ("electronics", "CLEARSHIELD-CASE", "for my iPhone 15 Pro", ["iPhone 15 Pro"]),
        ("food", "T-LJ", "100克", ["100 g"]),
        ("food", "MC-LOTUS", "8枚装", ["box of 8"]),
        ("food", "SN-SEAWEED", "香辣的呢", ["spicy"]),
        ("demo", "JK-3001", "in size L", ["L / black"]),
    ],
)
def test_the_named_variant_is_chosen(name: str, sku: str, text: str, labels: list[str]) -> None:
    assert _chosen(name, sku, text) == labels


@pytest.mark.parametrize(
    ("name", "sku", "text"),
    [
        ("electronics", "BRAIDLINK-USB-C-CABLE", "1万毫安"),  # 10000 mAh is not 1 m
        ("electronics", "AEROBUDS-PRO", "how much are they"),
        ("food", "T-PE357", "2 cakes"),  # no options at all
    ],
)
def test_nothing_is_chosen_when_no_option_is_named(name: str, sku: str, text: str) -> None:
    assert _chosen(name, sku, text) == []


def test_product_names_are_blanked_before_options_are_read() -> None:
    text = "voltpack 10000 in white"
    assert blank_spans(text, [(0, 14)]) == " " * 14 + " in white"
