"""Value types: money rounding, localized text, identities."""

from __future__ import annotations

from decimal import Decimal

from core.knowledge.model import Identity, Localized, ShopInfo, round_money


def test_round_money_is_half_up_not_bankers() -> None:
    assert round_money(Decimal("0.025")) == Decimal("0.03")  # half-even would give 0.02
    assert round_money(Decimal("239.2")) == Decimal("239.20")


def test_shop_formats_money_with_two_decimals() -> None:
    shop = ShopInfo(Localized("店", "Shop"))
    assert shop.money(Decimal("239.2")) == "¥239.20"


def test_localized_picks_language() -> None:
    name = Localized("防风夹克", "Windbreaker")
    assert name.get("zh") == "防风夹克"
    assert name.get("en") == "Windbreaker"


def test_order_ownership_is_platform_and_user(demo_knowledge) -> None:
    order = next(o for o in demo_knowledge.orders if o.order_no == "SO20261102-0042")
    assert order.belongs_to(Identity("telegram", "1001"))
    assert order.belongs_to(Identity("webhook:demo", "cust-7788"))
    assert not order.belongs_to(Identity("slack", "1001"))  # same id, other platform
    assert not order.belongs_to(Identity("telegram", "1002"))


def test_products_are_found_by_product_or_variant_sku(demo_knowledge) -> None:
    by_variant = demo_knowledge.product("ts-1001-m-black")
    assert by_variant is demo_knowledge.product("TS-1001")
    found = demo_knowledge.variant("TS-1001-M-BLACK")
    assert found is not None and found[1].color == "black" and found[1].size == "M"
    assert demo_knowledge.variant("TS-1001") is None  # a product with options names no variant


def test_variant_label_price_and_restock() -> None:
    from datetime import date

    from core.knowledge.model import OptionValue, Product, Variant

    grey = Variant(
        "13-inch", "Grey", 0, "US13-GY", Decimal("129.00"), Decimal("99.00"), None,
        (OptionValue("size", Localized("13-inch", "13-inch")),
         OptionValue("color", Localized("灰色", "Grey"))),
    )  # fmt: skip
    product = Product(
        "US", Localized("内胆包", "Sleeve"), "bags", Localized("包", "Bags"), Decimal("129.00"),
        (grey,), restock=date(2026, 7, 1),
    )  # fmt: skip
    assert grey.label == Localized("13-inch / 灰色", "13-inch / Grey")
    assert product.list_price(grey) == Decimal("129.00")
    assert product.regular_price(grey) == Decimal("99.00")  # the sale price
    assert product.restock_of(grey) == date(2026, 7, 1)  # the product's date when it has none


def test_promotion_scope_by_variant_sku_and_bundle(demo_knowledge) -> None:
    from datetime import date

    from core.knowledge.model import BundleItem, Promotion, PromotionKind

    day = date(2026, 1, 1)
    tee = demo_knowledge.product("TS-1001")
    black = tee.variant("TS-1001-M-BLACK")
    white = tee.variant("TS-1001-M-WHITE")
    promo = Promotion(
        "P", Localized("p", "p"), PromotionKind.PERCENT_OFF, day, day,
        percent_off=Decimal(10), skus=frozenset({"TS-1001-M-BLACK"}),
    )  # fmt: skip
    assert promo.applies_to(tee, black) and not promo.applies_to(tee, white)
    bundle = Promotion(
        "B", Localized("b", "b"), PromotionKind.BUNDLE, day, day,
        items=(BundleItem("TS-1001"), BundleItem("JK-3002")), bundle_price=Decimal(300),
    )  # fmt: skip
    assert bundle.applies_to(tee) and not bundle.whole_shop
    assert bundle.is_active(day) and bundle.has_ended(date(2026, 1, 2))
    assert bundle.is_upcoming(date(2025, 12, 31))
