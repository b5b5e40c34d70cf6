"""Product lookup by SKU (OCR-tolerant), by name, and by fuzzy search; sizes and colours."""

from __future__ import annotations

import pytest

from core.knowledge.base import KnowledgeBase
from core.knowledge.catalog import colours_in, sizes_in


@pytest.mark.parametrize(
    ("text", "skus", "how"),
    [
        ("价签 SKU:JK-3002 ￥299", ["JK-3002"], "sku"),
        ("jk 3002 price", ["JK-3002"], "sku"),
        ("JK3002", ["JK-3002"], "sku"),
        ("防风夹克多少钱", ["JK-3002"], "name"),
        ("how much are the chelsea boots", ["BT-5101"], "name"),
        ("How much is the windbreaker?", ["JK-3002"], "search"),
        ("帆布鞋42码有货吗", ["SN-5001"], "search"),
        ("跑鞋现在还有国庆7折吗", ["SN-5002"], "search"),
    ],
)
def test_find(demo_base: KnowledgeBase, text: str, skus: list[str], how: str) -> None:
    found = demo_base.catalog.find(text)
    assert [m.product.sku for m in found] == skus
    assert found[0].how == how


def test_ambiguous_names_return_the_contenders(demo_base: KnowledgeBase) -> None:
    assert {m.product.sku for m in demo_base.catalog.find("夹克多少钱")} == {"JK-3002", "JK-3004"}


@pytest.mark.parametrize(
    "text", ["How long does delivery take?", "Do you sell laptops?", "JK-30021", "退货运费谁出"]
)
def test_no_false_products(demo_base: KnowledgeBase, text: str) -> None:
    assert demo_base.catalog.find(text) == []


def test_sizes_and_colours(demo_knowledge) -> None:
    shoes = demo_knowledge.product("SN-5001")
    assert sizes_in("42码有货吗", shoes) == ["42"]
    assert sizes_in("size 44 please", shoes) == ["44"]
    assert sizes_in("¥189 的那双", shoes) == []  # a price is not a size
    tee = demo_knowledge.product("TS-1001")
    assert sizes_in("有M码吗", tee) == ["M"]
    assert sizes_in("I'm looking for XL", tee) == ["XL"]
    scarf = demo_knowledge.product("SC-6201")
    assert colours_in("有红色的吗", scarf) == ["red"]
    assert colours_in("the grey one", scarf) == ["grey"]
