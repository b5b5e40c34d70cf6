"""File schemas: what each knowledge file accepts and rejects."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from core.knowledge.format import CatalogFile, IdentityMap, OrderIn, PromotionIn


def _promotion(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "P", "name": {"zh": "促销", "en": "Promo"}, "kind": "percent_off",
        "percent_off": "20", "starts": "2026-11-01", "ends": "2026-11-30",
    }  # fmt: skip
    base.update(changes)
    return base


def test_prices_are_exact_decimals() -> None:
    catalog = CatalogFile.model_validate(
        {
            "categories": {"tops": {"zh": "上衣", "en": "Tops"}},
            "products": [
                {
                    "sku": "ts-1",
                    "name": {"zh": "T恤", "en": "Tee"},
                    "category": "tops",
                    "price": "0.10",
                    "variants": [{"size": "M", "stock": "1"}],
                }
            ],
        }
    )
    product = catalog.products[0]
    assert product.price == Decimal("0.10")
    assert product.sku == "TS-1"  # SKUs are upper-cased


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"ends": "2026-10-01"}, "before starts"),
        ({"percent_off": None}, "needs percent_off"),
        ({"percent_off": "120"}, "less than 100"),
        (
            {"kind": "amount_off_over", "percent_off": None, "amount_off": "100"},
            "needs amount_off and threshold",
        ),
        (
            {
                "kind": "amount_off_over",
                "percent_off": None,
                "amount_off": "700",
                "threshold": "599",
            },
            "smaller than threshold",
        ),
        ({"kind": "bogo"}, "percent_off"),
    ],
)
def test_bad_promotions_are_rejected(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        PromotionIn.model_validate(_promotion(**changes))


def test_shipped_order_needs_tracking() -> None:
    order = {
        "order_no": "SO20261102-0042", "customer": "C1", "status": "shipped", "placed": "2026-11-02",
        "total": "1.00", "items": [{"sku": "A-1", "size": "M", "quantity": "1", "unit_price": "1.00"}],
    }  # fmt: skip
    with pytest.raises(ValidationError, match="needs shipped and tracking"):
        OrderIn.model_validate(order)
    order |= {"shipped": "2026-11-03", "tracking": "SF1"}
    assert OrderIn.model_validate(order).status.value == "shipped"


def test_identity_map_accepts_one_or_many_ids() -> None:
    ids = IdentityMap.model_validate({"telegram": "1001", "webhook:demo": ["a", "b"]})
    assert sorted(ids.pairs()) == [
        ("telegram", "1001"),
        ("webhook:demo", "a"),
        ("webhook:demo", "b"),
    ]
    with pytest.raises(ValidationError):
        IdentityMap.model_validate({})
