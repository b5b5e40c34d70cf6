"""Loading a knowledge folder: all-or-nothing, every problem named with file and line."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.knowledge.loader import load_knowledge
from core.knowledge.model import OrderStatus, PromotionKind


def test_demo_shop_is_complete(demo_knowledge) -> None:
    k = demo_knowledge
    assert len(k.products) == 30
    assert len(k.faq) == 15
    assert len(k.orders) == 20
    assert len({o.customer_id for o in k.orders}) == 6
    assert {p.kind for p in k.promotions} == {
        PromotionKind.PERCENT_OFF,
        PromotionKind.SPEND_THRESHOLD,
    }
    assert {s.document for s in k.policies} == {"shipping", "returns", "warranty"}
    assert all(p.name.zh and p.name.en for p in k.products)
    assert k.product("jk-3002").price == Decimal("299.00")


def test_mini_folder_loads(mini_folder: Callable[..., Path]) -> None:
    k = load_knowledge(mini_folder())
    assert [p.sku for p in k.products] == ["JK-1", "TS-1"]
    order = k.orders[0]
    assert order.status is OrderStatus.SHIPPED
    assert {(i.platform, i.user_id) for i in order.identities} == {
        ("telegram", "0042")
    }  # not octal 34
    assert order.items[0].name.en == "Windbreaker"  # names come from the catalog
    assert k.policies[0].source == "policy:returns#return-window"


def _problems(folder: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_knowledge(folder)
    return str(info.value)


def test_bad_price_names_file_and_line(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(catalog_yaml=_mini("catalog.yaml").replace("price: 99.00", "price: cheap"))
    message = _problems(folder)
    assert "catalog.yaml:16: products[1].price:" in message


def test_missing_field_points_at_its_mapping(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(catalog_yaml=_mini("catalog.yaml").replace("    category: tops\n", ""))
    assert "catalog.yaml:13: products[1].category: Field required" in _problems(folder)


def test_unknown_sku_in_an_order_is_reported_at_its_line(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(orders_yaml=_mini("orders.yaml").replace("sku: JK-1-M", "sku: JK-9"))
    assert "orders.yaml:8: orders[0].items[0].sku: unknown SKU JK-9" in _problems(folder)


def test_every_problem_is_listed_at_once(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(
        promotions_yaml=_mini("promotions.yaml").replace("[outerwear]", "[shoes]"),
        faq_yaml=_mini("faq.yaml")
        + "  - id: pay\n    question: {zh: 问, en: Q}\n    answer: {zh: 答, en: A}\n",
        orders_yaml=_mini("orders.yaml").replace("customer: C1", "customer: C9"),
    )
    message = _problems(folder)
    assert "3 problem(s)" in message
    assert "promotions.yaml:6: promotions[0].categories[0]: unknown category shoes" in message
    assert "faq.yaml:5: faq[1].id: duplicate FAQ id pay" in message
    assert "orders.yaml:6: orders[0].customer: unknown customer 'C9'" in message


def test_duplicate_sku_and_shared_identity(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(
        catalog_yaml=_mini("catalog.yaml").replace("sku: TS-1", "sku: JK-1"),
        orders_yaml=_mini("orders.yaml").replace(
            'identities: {telegram: "7"}', 'identities: {telegram: "0042"}'
        ),
    )
    message = _problems(folder)
    assert "duplicate SKU JK-1" in message
    assert "telegram user 0042 already belongs to customer C1" in message


def test_missing_required_file(mini_folder: Callable[..., Path]) -> None:
    assert "catalog.yaml:1: required file is missing" in _problems(mini_folder(catalog_yaml=None))


def test_broken_catalog_does_not_cascade(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(catalog_yaml="categories: {}\nproducts: [\n")
    message = _problems(folder)
    assert "invalid YAML" in message
    assert "unknown SKU" not in message  # orders are not blamed for the catalog's mistake


def test_empty_policy_section_is_reported(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(policies__returns_md="# Returns\n\n## Window\n\n## Fees\n\nFees apply.\n")
    assert "returns.md:3: section 'Window' has no text" in _problems(folder)


def test_missing_folder() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_knowledge(Path("/nonexistent/knowledge"))


def _mini(name: str) -> str:
    from tests.knowledge.conftest import MINI_FILES

    text = MINI_FILES[name]
    assert text is not None
    return text


# --- format 2 failure paths -----------------------------------------------------------------


def test_the_evaluation_shops_load() -> None:
    shops = Path(__file__).resolve().parents[2] / "bench" / "eval" / "shops"
    food = load_knowledge(shops / "food" / "knowledge")
    assert food.shop.persona is not None and "小岚" in food.shop.persona.zh
    assert food.shop.order_number_pattern == r"WX-\d{4}-\d{6}"
    snow = food.product("MC-SNOW-MT")
    assert snow is not None and snow.price == Decimal("138.00")  # the product's price
    matcha = snow.variant("MC-SNOW-MT")
    assert matcha is not None and matcha.option("flavor") is not None
    assert matcha.option("flavor").zh == "抹茶" and matcha.stock == 0
    pitcher = food.product("TW-PITCHER")
    assert pitcher is not None and not pitcher.sold  # discontinued
    refund = next(o for o in food.orders if o.order_no == "WX-2026-001011").refund
    assert refund is not None and refund.amount == Decimal("78.00")
    electronics = load_knowledge(shops / "electronics" / "knowledge")
    earbuds = electronics.product("VB-ABP-WH")
    assert (
        earbuds is not None and earbuds.restock_of(earbuds.variants[1]).isoformat() == "2026-06-28"
    )
    assert earbuds.warranty is not None and earbuds.warranty.zh == "1-year warranty"  # §1
    # an unquoted comma inside {...} continues the text (§1)
    assert electronics.promotion("AUDIO-SUMMER").description.en == (
        "10% off all earbuds, headphones and speakers."
    )


def test_format_one_names_the_migration(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(shop_yaml="name: {zh: 店, en: Shop}\n")
    message = _problems(folder)
    assert "shop.yaml:1: format: this folder is knowledge format 1" in message
    assert "knowledge migrate" in message


def test_bad_yaml_names_its_line(mini_folder: Callable[..., Path]) -> None:
    folder = mini_folder(faq_yaml="faq:\n  - id: x\n    question: [unclosed\n")
    assert "faq.yaml:4: invalid YAML" in _problems(
        folder
    ) or "faq.yaml:3: invalid YAML" in _problems(folder)


def test_bad_number_pattern(mini_folder: Callable[..., Path]) -> None:
    shop = _mini("shop.yaml").replace(r"'SO\d{8}-\d{4}'", "'SO(\\d{8}'")
    assert "shop.yaml:5: orders.number_pattern: not a regular expression" in _problems(
        mini_folder(shop_yaml=shop)
    )
    shop = _mini("shop.yaml").replace("SO20260101-0001", "XX1")
    assert "shop.yaml:6: orders.number_example: XX1 does not match" in _problems(
        mini_folder(shop_yaml=shop)
    )
