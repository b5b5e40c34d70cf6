"""The WooCommerce importer: variable products, simple products, drafts, failures."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import CatalogImportError
from core.knowledge.importers.woocommerce import import_woocommerce
from core.knowledge.loader import load_knowledge

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "examples" / "woocommerce-products.csv"
PETS = ROOT / "bench" / "eval" / "shops" / "pets"


def _folder(tmp_path: Path, catalog: str) -> Path:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "shop.yaml").write_text("format: 2\nname: Camp Shop\n", encoding="utf-8")
    (folder / "catalog.yaml").write_text(catalog, encoding="utf-8")
    return folder


def test_the_example_export_imports_and_loads(tmp_path: Path) -> None:
    knowledge = load_knowledge(_folder(tmp_path, import_woocommerce(EXAMPLE, "en")))
    assert [p.sku for p in knowledge.products] == ["HOODIE", "MUG-ENAMEL"]  # draft left out
    hoodie = knowledge.product("HOODIE-M")
    assert hoodie is not None and hoodie.options == ("size",)
    medium = hoodie.variant("HOODIE-M")
    assert medium is not None and medium.sale_price == Decimal("49.00") and medium.stock == 4
    assert hoodie.name.zh == "有机棉连帽卫衣"
    assert hoodie.description.en == "Soft organic cotton hoodie with a kangaroo pocket. Unisex fit."
    assert [(s.key, s.value.en) for s in hoodie.specs] == [("Material", "100% organic cotton")]
    mug = knowledge.product("MUG-ENAMEL")
    assert mug is not None and mug.price == Decimal("18.50") and mug.total_stock == 35
    assert mug.warranty is not None and mug.warranty.zh == "1-year warranty"  # §1
    assert knowledge.categories == (
        ("hoodies", knowledge.categories[0][1]),
        ("kitchen", knowledge.categories[1][1]),
    )


def test_reproduces_the_pets_evaluation_catalog_byte_for_byte() -> None:
    expected = (PETS / "knowledge" / "catalog.yaml").read_text(encoding="utf-8")
    text = import_woocommerce(PETS / "source" / "wc-product-export.csv", "en")
    assert text == expected
    assert "PH-RAINCOAT" not in text  # a draft (Published -1) is left out


def test_missing_columns_are_named(tmp_path: Path) -> None:
    csv = tmp_path / "wc.csv"
    csv.write_text("ID,Type,SKU,Name\n1,simple,A,A\n", encoding="utf-8")
    with pytest.raises(CatalogImportError, match=r"missing column.*Published.*Regular price"):
        import_woocommerce(csv)


def test_a_variation_without_its_parent_is_reported(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("id:101", "id:999")
    csv = tmp_path / "wc.csv"
    csv.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogImportError, match=r"wc\.csv:3: Parent: no product id:999"):
        import_woocommerce(csv)
