"""Which specification a question asks about."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.knowledge.model import Product, Spec, Variant
from core.knowledge.specwords import asked_specs, asks_warranty, named_specs
from core.knowledge.values import Localized
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


def _kit() -> Product:
    def spec(key: str, en: str, zh: str, value_en: str, value_zh: str) -> Spec:
        return Spec(key, Localized(zh, en), Localized(value_zh, value_en))

    return Product(
        "LAMP-1",
        Localized("露营灯", "Camping Lantern"),
        "outdoor",
        Localized("户外", "Outdoor"),
        Decimal("89.00"),
        (Variant("ONE", "", 4, "LAMP-1"),),
        specs=(
            spec("runtime", "hours per charge", "续航", "20 hours", "20小时"),
            spec(
                "routine",
                "how to use",
                "使用方法",
                "charge monthly when stored",
                "存放时每月充电一次",
            ),
            spec(
                "aviation",
                "flights",
                "登机",
                "battery under 100 Wh, cabin only",
                "电池小于100Wh，只能随身登机",
            ),
            spec("box", "contents", "内含", "lantern, strap, cable", "灯、挂绳、数据线"),
            spec("rating", "water resistance", "防水", "IPX4 splash-proof", "IPX4防溅水"),
        ),
    )


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("how many hours per charge, and is it waterproof?", ["runtime", "rating"]),  # label words
        ("may I bring it on an airplane? it's for my carry-on", ["aviation"]),
        ("能带上飞机吗", ["aviation"]),
        ("how often should I top it up", ["routine"]),
        ("多久充一次，一周几次", ["routine"]),
        ("what's in the box", ["box"]),
        ("盒子里包含哪些配件", ["box"]),
    ],
)
def test_specs_named_by_a_label_word_or_a_general_word(text: str, keys: list[str]) -> None:
    assert [s.key for s in asked_specs(text, _kit())] == keys


def test_a_bare_verb_shared_with_a_label_names_no_spec() -> None:
    # "use" is in "how to use" but asks about nothing in particular.
    assert named_specs("is it safe to use near my tent?", _kit()) == []


def test_the_products_own_name_names_no_spec() -> None:
    # "充电" is in the product's name, not in the question's ask (about flying with it).
    lamp = Product(
        "LAMP-2",
        Localized("充电露营灯", "Charging Lantern"),
        "outdoor",
        Localized("户外", "Outdoor"),
        Decimal("59.00"),
        (Variant("ONE", "", 3, "LAMP-2"),),
        specs=(
            Spec("recharge", Localized("充电时间", "recharge time"), Localized("4小时", "4 h")),
        ),
    )
    assert asked_specs("充电露营灯可以带上高铁吗", lamp) == []
    assert asked_specs("can the charging lantern go on a train", lamp) == []
    assert [s.key for s in asked_specs("充电露营灯充电要多久", lamp)] == ["recharge"]


def test_a_spec_is_named_by_another_form_of_its_label_word() -> None:
    fan = Product(
        "FAN-1", Localized("风扇", "Desk Fan"), "home", Localized("家居", "Home"), Decimal("59.00"),
        (Variant("ONE", "", 4, "FAN-1"),),
        specs=(Spec("noise", Localized("噪音", "Noise"), Localized("低于30分贝", "below 30 dB")),),
    )  # fmt: skip
    assert [s.key for s in asked_specs("is it noisy at night?", fan)] == ["noise"]


def test_words_of_one_root_meet_but_short_ones_do_not() -> None:
    from core.knowledge.specwords import _same_root

    assert _same_root("nois", "noisy") and _same_root("weigh", "weight")
    assert not _same_root("use", "user") and not _same_root("box", "boxing")


@pytest.mark.parametrize(
    ("sku", "text", "keys"),
    [
        ("PH-TREE", "多高？最多能承重多少", ["Height", "Max load"]),
        ("PH-FEEDER", "一次能装多少", ["Capacity"]),
        ("PH-FOUNTAIN", "is it loud at night?", ["Noise"]),
        ("PH-HARNESS", "胸围60的狗能穿吗", ["Chest girth"]),
    ],
)
def test_common_words_for_height_load_capacity_noise_and_girth(
    sku: str, text: str, keys: list[str]
) -> None:
    assert _asked("pets", sku, text) == keys


@pytest.mark.parametrize(
    ("sku", "text", "keys"),
    [
        ("BB-STROLLER", "does it fold down small?", ["Folded size"]),
        ("BB-STROLLER", "适合新生儿吗", ["Suitable for"]),
        ("BB-CARSEAT", "有什么认证", ["Standard"]),
        ("BB-PUMP", "用起来吵吗", ["Noise"]),
    ],
)
def test_common_words_for_folding_age_certification_and_noise(
    sku: str, text: str, keys: list[str]
) -> None:
    assert _asked("baby", sku, text) == keys
