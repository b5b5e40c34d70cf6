"""Which specification a question asks about."""

from __future__ import annotations

import pytest

from core.knowledge.specwords import asked_specs, asks_warranty
from tests.knowledge.shops import shop


def _asked(name: str, sku: str, text: str) -> list[str]:
    product = shop(name).knowledge.product(sku)
    assert product is not None
    return [s.key for s in asked_specs(text, product)]


@pytest.mark.parametrize(
    ("name", "sku", "text", "keys"),
    [
        ("electronics", "PEBBLE-MINI-SPEAKER", "battery capacity?", ["Battery capacity"]),
        ("electronics", "AEROBUDS-PRO", "防水吗", ["Waterproof rating"]),  # glossary
        ("electronics", "STUDIOMAX-HEADPHONES", "ok in the rain?", ["Waterproof rating"]),
        ("food", "TW-KETTLE", "功率多少瓦", ["power"]),  # a Chinese label
        ("food", "T-LJ", "是明前茶吗", ["harvest"]),  # a word of the value
    ],
)
def test_the_asked_spec_is_found(name: str, sku: str, text: str, keys: list[str]) -> None:
    assert _asked(name, sku, text) == keys


def test_the_products_own_name_is_not_a_spec_question() -> None:
    # "wool" is in the coat's name and its material; the question is about washing it.
    assert _asked("demo", "JK-3003", "how do I wash the wool overcoat") != ["material"]


def test_warranty_questions() -> None:
    assert asks_warranty("保修多久") and asks_warranty("How long is the warranty?")
    assert not asks_warranty("how long is delivery")
