"""File schemas (format 2): what each knowledge file accepts and rejects."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from core.knowledge.format import CatalogFile, LocalizedIn, ProductIn, ShopFile
from core.knowledge.format_rules import IdentityMap, OrderIn, PromotionIn


def _promotion(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "P", "name": {"zh": "促销", "en": "Promo"}, "kind": "percent_off",
        "percent": "20", "starts": "2026-11-01", "ends": "2026-11-30",
    }  # fmt: skip
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_prices_are_exact_decimals_and_skus_upper_case() -> None:
    catalog = CatalogFile.model_validate(
        {
            "categories": {"tops": "Tops"},
            "products": [
                {
                    "sku": "ts-1",
                    "name": {"zh": "T恤"},
                    "category": "tops",
                    "price": "0.10",
                    "stock": "1",
                },
            ],
        }
    )
    product = catalog.products[0]
    assert product.price == Decimal("0.10")
    assert product.sku == "TS-1"
    assert product.name.value().en == "T恤"  # a missing language uses the other one (§1)
    assert catalog.categories["tops"].value().zh == "Tops"


def test_localized_needs_one_language() -> None:
    with pytest.raises(ValidationError, match="zh, en or both"):
        LocalizedIn.model_validate({})


def test_three_ways_to_write_a_spec() -> None:
    product = ProductIn.model_validate(
        {"sku": "K", "name": "Kettle", "category": "c", "price": "1", "stock": "1",
         "specs": {"capacity": "0.8 L", "plug": {"zh": "国标插头", "en": "China plug"},
                   "power": {"label": {"zh": "功率", "en": "power"}, "value": "1200 W"}}}
    )  # fmt: skip
    specs = product.specs
    assert specs["capacity"].value.value().zh == "0.8 L"
    assert specs["plug"].value.value().en == "China plug"
    assert specs["power"].label is not None and specs["power"].label.value().zh == "功率"


def test_unknown_product_key_is_an_error() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        ProductIn.model_validate({"sku": "K", "name": "K", "category": "c", "pirce": "1"})


def test_shop_needs_format_two_and_a_real_time_zone() -> None:
    with pytest.raises(ValidationError, match="format 2, not 3"):
        ShopFile.model_validate({"format": "3", "name": "Shop"})
    with pytest.raises(ValidationError, match="unknown time zone"):
        ShopFile.model_validate({"format": "2", "name": "Shop", "timezone": "Mars/Olympus"})


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"ends": "2026-10-01"}, "before starts"),
        ({"percent": None}, "needs percent"),
        ({"percent": "120"}, "less than 100"),
        ({"kind": "amount_off"}, "needs amount"),
        ({"kind": "n_for_m", "percent": None, "buy": "3", "pay": "3"}, "less than buy"),
        ({"kind": "spend_threshold", "percent": None,
          "tiers": [{"spend": "399", "off": "60"}, {"spend": "199", "off": "20"}]}, "must rise"),
        ({"kind": "spend_threshold", "percent": None, "tiers": [{"spend": "99", "off": "100"}]},
         "smaller than spend"),
        ({"kind": "bundle", "percent": None, "price": "99", "items": [{"sku": "A"}]},
         "at least two units"),
        ({"kind": "bundle", "percent": None, "price": "99", "categories": ["tea"],
          "items": [{"sku": "A"}, {"sku": "B"}]}, "names its items"),
        ({"kind": "bogo"}, "percent_off"),
    ],
)  # fmt: skip
def test_bad_promotions_are_rejected(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        PromotionIn.model_validate(_promotion(**changes))


def test_every_kind_of_promotion_validates() -> None:
    kinds = [
        {"kind": "amount_off", "percent": None, "amount": "10", "min_quantity": "2"},
        {"kind": "n_for_m", "percent": None, "buy": "3", "pay": "2"},
        {"kind": "spend_threshold", "percent": None,
         "tiers": [{"spend": "199", "off": "20"}, {"spend": "399", "off": "60"}]},
        {"kind": "bundle", "percent": None, "price": "99",
         "items": [{"sku": "a"}, {"sku": "b", "quantity": "2"}]},
    ]  # fmt: skip
    for changes in kinds:
        assert PromotionIn.model_validate(_promotion(**changes)).kind.value == changes["kind"]


def test_shipped_order_needs_tracking() -> None:
    order = {
        "order_no": "SO20261102-0042", "customer": "C1", "status": "shipped", "placed": "2026-11-02",
        "total": "1.00", "items": [{"sku": "A-1", "quantity": "1", "unit_price": "1.00"}],
    }  # fmt: skip
    with pytest.raises(ValidationError, match="needs shipped and tracking"):
        OrderIn.model_validate(order)
    order |= {"shipped": "2026-11-03", "tracking": "SF1"}
    assert OrderIn.model_validate(order).status.value == "shipped"
    order |= {"refund": {"status": "granted", "amount": "1", "date": "2026-11-04"}}
    with pytest.raises(ValidationError, match=r"refund\.status"):
        OrderIn.model_validate(order)


def test_identity_map_accepts_one_or_many_ids() -> None:
    ids = IdentityMap.model_validate({"telegram": "1001", "webhook:demo": ["a", "b"]})
    assert sorted(ids.pairs()) == [
        ("telegram", "1001"),
        ("webhook:demo", "a"),
        ("webhook:demo", "b"),
    ]
    with pytest.raises(ValidationError):
        IdentityMap.model_validate({})
