"""Shopify's product CSV export (classic headers) -> catalog.yaml (docs/knowledge-format.md §4).

One product spans several rows with the same ``Handle``: the first carries the product's
fields and option names, each further row a variant (``Option1 Value`` ..., ``Variant SKU``)
or only an image (skipped). ``draft`` and ``archived`` products are not imported; SEO, tax,
shipping and image columns are ignored. ``Variant Compare At Price`` above ``Variant Price``
makes the compare-at price the list price and the variant price a ``sale_price``.
Metafields ``product.metafields.custom.<key>`` add the other language's ``name_<lang>`` and
``description_<lang>``, ``aliases``, ``warranty`` and ``restock_date``; every other custom
metafield is a spec labelled with its column title (``Battery life (product.metafields...)``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from core.errors import CatalogImportError
from core.knowledge.importers.common import (
    CatalogDraft,
    Table,
    dump_catalog,
    localized,
    other_language,
    plain_text,
    read_table,
    words,
)

REQUIRED = ("Handle", "Title", "Option1 Name", "Option1 Value", "Variant SKU", "Variant Price")
METAFIELD = re.compile(r"^(?P<label>.*?)\s*\(product\.metafields\.custom\.(?P<key>[a-z0-9_]+)\)$")
SKIPPED_STATUS = ("draft", "archived")
DEFAULT_OPTION = ("Title", "Default Title")
SPECIAL = ("name", "description", "aliases", "warranty", "restock_date")


def _metafields(table: Table) -> list[tuple[str, str, str]]:
    """``(column, key, label)`` of each custom metafield column, in file order."""
    found = []
    for column in table.header:
        if match := METAFIELD.match(column):
            found.append((column, match["key"], match["label"]))
    return found


def _money(value: str, path: Path, line: int, column: str) -> str:
    try:
        return f"{Decimal(value.strip()):.2f}"
    except InvalidOperation:
        raise CatalogImportError(f"{path}:{line}: {column}: not a price: {value!r}") from None


def _options(row: dict[str, str]) -> list[tuple[int, str]]:
    names = [(n, row.get(f"Option{n} Name", "").strip()) for n in (1, 2, 3)]
    names = [(n, name) for n, name in names if name]
    if len(names) == 1 and (names[0][1], row.get("Option1 Value", "")) == DEFAULT_OPTION:
        return []
    return [(n, name.lower().replace(" ", "_")) for n, name in names]


def _variant(
    row: dict[str, str], options: list[tuple[int, str]], table: Table, line: int
) -> dict[str, Any]:
    variant: dict[str, Any] = {name: row.get(f"Option{n} Value", "").strip() for n, name in options}
    sku = row.get("Variant SKU", "").strip()
    if not sku:
        raise CatalogImportError(f"{table.path}:{line}: Variant SKU: every variant needs a SKU")
    price = _money(row["Variant Price"], table.path, line, "Variant Price")
    compare = row.get("Variant Compare At Price", "").strip()
    variant["sku"] = sku
    if compare and Decimal(_money(compare, table.path, line, "Variant Compare At Price")) > Decimal(
        price
    ):
        variant["price"] = _money(compare, table.path, line, "Variant Compare At Price")
        variant["sale_price"] = price
    else:
        variant["price"] = price
    variant["stock"] = str(max(int(row.get("Variant Inventory Qty") or 0), 0))
    return variant


def _product(
    row: dict[str, str], draft: CatalogDraft, metafields: list[tuple[str, str, str]], language: str
) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    meta = {key: row.get(column, "").strip() for column, key, _ in metafields}
    other = other_language(language)
    product: dict[str, Any] = {"sku": row["Handle"].strip().upper()}
    product["name"] = localized(language, row["Title"].strip(), meta.get(f"name_{other}", ""))
    description = localized(
        language,
        plain_text(row.get("Body (HTML)", "")),
        plain_text(meta.get(f"description_{other}", "")),
    )
    if description:
        product["description"] = description
    if row.get("Vendor", "").strip():
        product["brand"] = row["Vendor"].strip()
    product["category"] = draft.category(row.get("Type", "").strip())
    if tags := words(row.get("Tags", "")):
        product["tags"] = tags
    options = _options(row)
    product["options"] = [name for _, name in options]
    product["variants"] = []
    return product, options


def _extras(
    row: dict[str, str], metafields: list[tuple[str, str, str]], language: str
) -> dict[str, Any]:
    """Aliases, warranty, restock date and specs, from the product's first row."""
    meta = {key: row.get(column, "").strip() for column, key, _ in metafields}
    extras: dict[str, Any] = {}
    if aliases := words(meta.get("aliases", "")):
        extras["aliases"] = aliases
    if meta.get("warranty"):
        extras["warranty"] = {language: meta["warranty"]}
    if meta.get("restock_date"):
        extras["restock"] = meta["restock_date"]
    specs = {
        label: {language: row[column].strip()}
        for column, key, label in metafields
        if key not in SPECIAL
        and not key.startswith(("name_", "description_"))
        and row[column].strip()
    }
    if specs:
        extras["specs"] = specs
    return extras


def _status(row: dict[str, str]) -> str:
    status = row.get("Status", "").strip().lower()
    if not status and row.get("Published", "").strip().upper() == "FALSE":
        return "draft"
    return status or "active"


def import_shopify(path: Path, language: str = "en") -> str:
    """The catalog.yaml text for a Shopify product CSV export.

    Raises:
        CatalogImportError: unreadable file, a required column missing, a variant without SKU,
            a price that is not a number.
    """
    table = read_table(path)
    table.require(REQUIRED)
    metafields = _metafields(table)
    draft = CatalogDraft()
    current: dict[str, Any] | None = None
    options: list[tuple[int, str]] = []
    extras: dict[str, Any] = {}
    for line, row in table.rows:
        handle = row.get("Handle", "").strip()
        if not handle:
            raise CatalogImportError(f"{path}:{line}: Handle: every row needs the product's handle")
        if row.get("Title", "").strip():  # the first row of a product
            current = None
            if _status(row) in SKIPPED_STATUS:
                continue
            current, options = _product(row, draft, metafields, language)
            extras = _extras(row, metafields, language)
            draft.products.append(current)
        elif current is None or current["sku"] != handle.upper():
            continue  # a row of a skipped product
        if not row.get("Variant SKU", "").strip() and not row.get("Option1 Value", "").strip():
            continue  # an image-only row
        current["variants"].append(_variant(row, options, table, line))
        current.update({k: v for k, v in extras.items() if k not in current})
    if not draft.products:
        raise CatalogImportError(f"{path}:1: no active product to import")
    return dump_catalog(draft, path, "shopify")
