"""Product linking: names, aliases, SKUs (glued by OCR), typos in both scripts, own words."""

from __future__ import annotations

import pytest

from core.knowledge.linking import edit_distance, typo_budget
from tests.knowledge.shops import shop


def _linked(name: str, text: str) -> list[str]:
    return [m.product.sku for m in shop(name).linker.link(text)]


@pytest.mark.parametrize(
    ("name", "text", "skus"),
    [
        ("electronics", "price of aero buds pro?", ["AEROBUDS-PRO"]),  # spacing
        ("electronics", "SKU:VB-ABP-WH in stock?", ["AEROBUDS-PRO"]),  # a variant SKU
        ("electronics", "SKUVB-ABP-WH", ["AEROBUDS-PRO"]),  # OCR glued the label on
        ("electronics", "is the voltpak 10000 good", ["VOLTPACK-10000"]),  # typo
        ("electronics", "the pebble and the homecam", ["PEBBLE-MINI-SPEAKER", "HOMECAM-2K"]),
        ("food", "tie guan ying 250g", ["T-TGY"]),  # typo across words
        ("food", "琥珀核挑仁多少钱", ["SN-WALNUT"]),  # a Chinese typo
        ("food", "普洱茶饼和盖碗", ["T-PE357", "TW-GAIWAN"]),
        ("demo", "防风夹克有M码吗", ["JK-3002"]),
    ],
)
def test_products_are_linked(name: str, text: str, skus: list[str]) -> None:
    assert _linked(name, text) == skus


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("food", "Do you sell coffee beans?"),
        ("food", "Can you ship to Hong Kong?"),  # "hong" of "da hong pao" is not enough
        ("electronics", "steamed buns"),
    ],
)
def test_nothing_is_linked_without_a_product(name: str, text: str) -> None:
    assert _linked(name, text) == []


def test_a_noun_phrase_keeps_its_surer_product() -> None:
    # "20000mAh power banks": the capacity names one product, "power bank" is another's alias.
    assert _linked("electronics", "are the 20000mAh power banks back?") == ["VOLTPACK-20000"]


def test_mentions_keep_their_place() -> None:
    text = "how much is the kettle and the jasmine tea"
    kettle, jasmine = shop("food").linker.link(text)
    assert text[kettle.start : kettle.end] == "kettle" and kettle.how == "name"
    assert text[jasmine.start : jasmine.end] == "jasmine tea"


def test_edit_distance_counts_swaps_once_and_stops_early() -> None:
    assert edit_distance("voltpak", "voltpack", 1) == 1
    assert edit_distance("aerbous", "aerobus", 1) == 1  # one adjacent swap
    assert edit_distance("kettle", "bottle", 1) == 2  # past the limit
    assert typo_budget("gaiwan") == 1 and typo_budget("tea") == 0 and typo_budget("核桃仁") == 0


@pytest.mark.parametrize(
    ("name", "text", "skus"),
    [
        ("pets", "90cm的窝有吗", ["PH-BED"]),  # 窝 ends 狗窝, 猫窝, 宠物窝 and the name
        ("food", "再要一个大的壶", ["TW-KETTLE"]),
        ("pets", "窝窝头好吃吗", []),  # inside another word
        ("electronics", "买3包", []),  # a measure word is never a head noun
    ],
)
def test_a_head_noun_standing_alone_names_its_product(
    name: str, text: str, skus: list[str]
) -> None:
    assert _linked(name, text) == skus


def test_a_tag_only_one_product_has_names_it_in_the_plural_too() -> None:
    assert _linked("pets", "are donut beds washable?") == ["PH-BED"]  # tag "donut bed"
    assert _linked("electronics", "two memory cards and a smart plug") == [
        "FLASHCORE-MICROSD",
        "SPARKPLUG-SMART-PLUG",
    ]
    # "stainless steel" is a tag of the frying pan, but the knives' specs say it too.
    assert "stainless steel" not in shop("home").linker._own_tags()


@pytest.mark.parametrize(
    ("text", "skus"),
    [
        ("any strollers in olive?", ["BB-STROLLER"]),  # the plural of its own word
        ("stroler in sand", ["BB-STROLLER"]),  # one typo
        ("which one carries a newborn best", []),  # not "carrier"
    ],
)
def test_own_words_in_the_plural_and_with_a_typo(text: str, skus: list[str]) -> None:
    assert _linked("baby", text) == skus


def test_an_english_head_noun_names_its_product_but_not_a_modifier_or_a_feature() -> None:
    heads = shop("baby").linker._head_words
    assert heads["bottle"].sku == "BB-BOTTLE"  # "Bottle Sterilizer" uses it as a modifier
    assert _linked("baby", "two 240ml bottles in mint") == ["BB-BOTTLE"]
    assert "oven" not in shop("home").linker._head_words  # "Oven safe" is a feature
