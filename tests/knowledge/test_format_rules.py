"""promotions.yaml and orders.yaml schemas (format 2): what they accept and reject."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.knowledge.format_rules import IdentityMap, OrderIn, PromotionIn


def _promotion(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "P", "name": {"zh": "促销", "en": "Promo"}, "kind": "percent_off",
        "percent": "20", "starts": "2026-11-01", "ends": "2026-11-30",
    }  # fmt: skip
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


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
