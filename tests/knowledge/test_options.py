"""Variant options named in a message: sizes, colours in either language, weights, packs."""

from __future__ import annotations

import pytest

from core.knowledge.options import blank_spans, chosen_variants
from core.knowledge.textproc import normalise
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


def _product_with(option: str, values: list[tuple[str, str]]) -> object:
    """A demo product given one option with the values (zh, en): a long-valued option such as a
    shade "02 Honey" or a texture "rich (dry skin)"."""
    from dataclasses import replace

    from core.knowledge.model import Localized, OptionValue

    base = shop("demo").knowledge.product("JK-3001")
    assert base is not None
    variants = tuple(
        replace(base.variants[0], sku=f"X-{i}", options=(OptionValue(option, Localized(zh, en)),))
        for i, (zh, en) in enumerate(values)
    )
    return replace(base, options=(option,), variants=variants)


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        ("is it in Honey?", ["X-2"]),  # one word of "02 Honey"
        ("小麦色的呢", ["X-2"]),
        ("the natural one please", ["X-1"]),
    ],
)
def test_a_word_only_one_value_has_names_that_value(text: str, chosen: list[str]) -> None:
    product = _product_with(
        "shade", [("00 象牙白", "00 Ivory"), ("01 自然色", "01 Natural"), ("02 小麦色", "02 Honey")]
    )
    assert [v.sku for v in chosen_variants(text, product)] == chosen  # type: ignore[arg-type]


def test_words_shared_by_several_values_name_none_of_them() -> None:
    product = _product_with(
        "texture",
        [
            ("清爽型（油性/混合肌）", "light (oily/combination skin)"),
            ("滋润型（干性肌）", "rich (dry skin)"),
        ],
    )
    pick = chosen_variants
    assert [v.sku for v in pick("干皮用的滋润型还剩几瓶", product)] == ["X-1"]  # type: ignore[arg-type]
    assert pick("is it good for my skin?", product) == ()  # type: ignore[arg-type]


def test_a_number_followed_by_a_word_names_the_numbered_value() -> None:
    product = _product_with(
        "shade", [("00 象牙白", "00 Ivory"), ("01 自然色", "01 Natural"), ("02 小麦色", "02 Honey")]
    )
    assert [v.sku for v in chosen_variants("02呢？", product)] == ["X-2"]  # type: ignore[arg-type]
    assert [v.sku for v in chosen_variants("shade 01 please", product)] == ["X-1"]  # type: ignore[arg-type]


def test_chinese_words_name_values_written_in_english_only() -> None:
    product = _product_with("flavour", [("Chicken", "Chicken"), ("Beef", "Beef"), ("Lamb", "Lamb")])
    assert [v.sku for v in chosen_variants("牛肉味的还有吗", product)] == ["X-1"]  # type: ignore[arg-type]
    sizes = _product_with("size", [("S", "S"), ("M", "M"), ("L", "L")])
    assert [v.sku for v in chosen_variants("要大号的", sizes)] == ["X-2"]  # type: ignore[arg-type]


def test_each_value_named_gets_its_own_line_in_the_order_written() -> None:
    from core.knowledge.options import variant_lines

    product = _product_with("flavour", [("Chicken", "Chicken"), ("Beef", "Beef"), ("Lamb", "Lamb")])
    text = "羊肉的来四罐，再要两罐鸡肉"
    lines = variant_lines(text, product)  # type: ignore[arg-type]
    assert [[v.sku for v in variants] for _, variants in lines] == [["X-2"], ["X-0"]]
    (start, end), _ = lines[0]
    assert normalise(text)[start:end] == "羊肉"
    assert variant_lines("a lamb one please", product) == []  # type: ignore[arg-type]


def test_a_number_matches_however_it_is_written() -> None:
    product = _product_with("capacity", [("1.5 升", "1.5 L"), ("2.0 升", "2.0 L")])
    assert [v.sku for v in chosen_variants("two of the 2 litre ones", product)] == ["X-1"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "chosen"),
    [
        ("80码的还有吗", ["X-2"]),  # the size, without its note
        ("the newborn size", ["X-0"]),  # a word of the note still names it
        ("要SS的", ["X-0"]),
    ],
)
def test_a_value_is_named_without_its_parenthesised_note(text: str, chosen: list[str]) -> None:
    product = _product_with(
        "size", [("SS (newborn)", "SS (newborn)"), ("73 (6-12 months)", "73 (6-12 months)"),
                 ("80 (12-18 months)", "80 (12-18 months)")],
    )  # fmt: skip
    assert [v.sku for v in chosen_variants(text, product)] == chosen  # type: ignore[arg-type]


def test_more_chinese_colour_words() -> None:
    product = _product_with("colour", [("Cream", "Cream"), ("Graphite", "Graphite")])
    assert [v.sku for v in chosen_variants("奶油色的", product)] == ["X-0"]  # type: ignore[arg-type]


def test_a_teat_cut_named_in_chinese() -> None:
    product = _product_with("flow", [("SS", "SS"), ("Y-cut (9 months+)", "Y-cut (9 months+)")])
    assert [v.sku for v in chosen_variants("Y字孔的还有吗", product)] == ["X-1"]  # type: ignore[arg-type]
