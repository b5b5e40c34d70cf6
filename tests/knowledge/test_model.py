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
