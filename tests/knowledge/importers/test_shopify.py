"""The Shopify importer reproduces the electronics and home shops' catalog.yaml exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import CatalogImportError
from core.knowledge.importers.shopify import import_shopify

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "bench" / "eval" / "shops" / "electronics"


def test_reproduces_the_evaluation_catalog_byte_for_byte() -> None:
    expected = (SHOP / "knowledge" / "catalog.yaml").read_text(encoding="utf-8")
    assert import_shopify(SHOP / "source" / "products.csv", "en") == expected


def test_draft_archived_and_image_rows_are_not_imported() -> None:
    text = import_shopify(SHOP / "source" / "products.csv", "en")
    assert "AEROBUDS-PRO-2" not in text and "CLASSIC-5W-CHARGER" not in text
    assert "cdn.shopify" not in text and "SEO" not in text


def test_missing_columns_are_named(tmp_path: Path) -> None:
    csv = tmp_path / "products.csv"
    csv.write_text("Handle,Title,Variant Price\nx,X,1.00\n", encoding="utf-8")
    with pytest.raises(CatalogImportError, match=r"missing column.*Option1 Name.*Variant SKU"):
        import_shopify(csv)


def test_a_bad_price_names_its_line(tmp_path: Path) -> None:
    csv = tmp_path / "products.csv"
    csv.write_text(
        "Handle,Title,Type,Option1 Name,Option1 Value,Variant SKU,Variant Price,Status\n"
        "mug,Mug,Kitchen,Title,Default Title,MUG-1,cheap,active\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogImportError, match=r"products\.csv:2: Variant Price: not a price"):
        import_shopify(csv)


HOME = ROOT / "bench" / "eval" / "shops" / "home"


def test_reproduces_the_home_evaluation_catalog_byte_for_byte() -> None:
    expected = (HOME / "knowledge" / "catalog.yaml").read_text(encoding="utf-8")
    text = import_shopify(HOME / "source" / "products_export.csv", "en")
    assert text == expected
    assert "CP-SAUCE-16" not in text  # a draft product is left out
    assert "CB-BAMBOO" not in text  # an archived product is left out
    assert "cdn.shopify" not in text and "Copper Hearth |" not in text  # image rows, SEO
