"""Quantities in digits, English words and Chinese numerals (core/knowledge/quantities.py)."""

from __future__ import annotations

import pytest

from core.knowledge.quantities import (
    each_count,
    find_quantities,
    only_count,
    quantity_near,
    read_number,
    zh_number,
)
from core.knowledge.textproc import normalise


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("一", 1), ("两", 2), ("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23), ("一百", 100)],
)
def test_chinese_numerals(numeral: str, value: int) -> None:
    assert zh_number(numeral) == value


def test_words_and_digits() -> None:
    assert read_number("three") == 3 and read_number("12") == 12 and read_number("dozen") == 12
    assert read_number("三") == 3 and read_number("many") is None and zh_number("三x") is None


def _counts(text: str) -> list[tuple[int, bool]]:
    return [(q.value, q.strong) for q in find_quantities(text)]


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("3 Zephyr bottles", [(3, False)]),
        ("I need three of the 1 m cables", [(3, True)]),
        ("1万毫安的充电宝买两个多少钱", [(2, True)]),
        ("那买三个多少钱", [(3, True)]),
        ("二十个", [(20, True)]),
        ("the jacket x3", [(3, True)]),
        ("I want 2", [(2, True)]),
    ],
)
def test_counts_are_found(text: str, counts: list[tuple[int, bool]]) -> None:
    assert _counts(text) == counts


@pytest.mark.parametrize(
    "text",
    ["65W charger", "100 g tea", "¥299 jacket", "size 42 shoes", "1 m cable", "10000mAh", "8折"],
)
def test_measurements_prices_and_sizes_are_not_counts(text: str) -> None:
    assert find_quantities(text) == []


def test_each_product_gets_the_count_next_to_it() -> None:
    text = normalise("2 tents and the stove x3, plus a lamp")
    quantities = find_quantities(text)
    tent = text.index("tents")
    stove = text.index("stove")
    lamp = text.index("lamp")
    assert quantity_near(quantities, text, tent, tent + 5) == 2
    assert quantity_near(quantities, text, stove, stove + 5) == 3
    assert quantity_near(quantities, text, lamp, lamp + 4) is None


def test_only_count_needs_one_value() -> None:
    assert only_count(find_quantities("买两个")) == 2
    assert only_count(find_quantities("买两个再买三个")) is None
    assert only_count(find_quantities("3 bottles")) is None  # weak: needs a product after it


@pytest.mark.parametrize(
    ("text", "product", "count"),
    [
        ("10片装面膜买三盒多少钱", "面膜", 3),  # "10片装" is the pack, "三盒" the count
        ("5-pack socks x3", "socks", 3),
        ("6瓶装矿泉水要两箱", "矿泉水", 2),
    ],
)
def test_a_pack_size_is_not_a_count(text: str, product: str, count: int) -> None:
    normal = normalise(text)
    start = normal.find(product)
    found = find_quantities(normal)
    assert quantity_near(found, normal, start, start + len(product)) == count


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("what do four of the 2 l jugs come to", 4),
        ("price for 6 tins of the 250 g coffee", 6),
        ("twelve packets of those 20-bag teas please", 12),
    ],
)
def test_a_number_before_of_the_counts_what_follows(text: str, value: int) -> None:
    assert only_count(find_quantities(text)) == value


def test_a_number_joined_to_a_word_describes_the_product() -> None:
    assert find_quantities("the 3-piece set") == []
    assert [q.value for q in find_quantities("do you have the 12-cup kettle")] == []


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("红的蓝的各两件", 2),
        ("各1个", 1),
        ("one of each please", 1),
        ("the small and large, 3 each", 3),
        ("each one is ¥20?", None),
        ("两种都要", None),
    ],
)
def test_a_count_for_every_item_at_once(text: str, count: int | None) -> None:
    assert each_count(text) == count


def test_litres_measure_and_do_not_count() -> None:
    assert _counts("four of the 2 litre jars") == [(4, True)]


def test_a_set_of_pieces_describes_the_product() -> None:
    assert _counts("三件套要两套") == [(2, True)]  # "三件套" is the product, "两套" the count


@pytest.mark.parametrize("text", ["18-36个月的睡袋", "适合6~12 months", "3-6个月穿的"])
def test_an_age_range_is_not_a_count(text: str) -> None:
    assert _counts(text) == []


def test_a_marked_count_reaches_past_a_number_that_describes_the_product() -> None:
    text = normalise("how much for ten packs of the 80 sheet wipes")
    start = text.index("wipes")
    assert quantity_near(find_quantities(text), text, start, start + 5) == 10


def test_jia_joins_two_products_each_with_its_own_count() -> None:
    text = normalise("吸奶器加两盒储奶袋")
    assert quantity_near(find_quantities(text), text, 0, 3) is None  # the pump: no count
    assert quantity_near(find_quantities(text), text, 6, 9) == 2
