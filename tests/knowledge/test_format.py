"""shop.yaml, catalog.yaml and faq.yaml schemas (format 2): what they accept and reject."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from core.knowledge.format import CatalogFile, LocalizedIn, ProductIn, ShopFile


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
