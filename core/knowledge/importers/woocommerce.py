"""WooCommerce's product CSV export -> catalog.yaml (docs/knowledge-format.md §4).

Rows are ``simple`` products (price and stock on the product), ``variable`` products and
their ``variation`` rows (``Parent`` names the variable product as ``id:<ID>`` or by SKU).
The attributes a variation sets are the product's options; the other attributes of a
product are specs. Only published products (``Published`` 1) are imported; a ``Sale price``
becomes ``sale_price``. ``Meta: name_<lang>`` / ``description_<lang>`` hold the other
language, ``Meta: aliases``, ``Meta: warranty`` and ``Meta: restock_date`` the rest.
"""

from __future__ import annotations

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
    slug,
    words,
)

REQUIRED = ("ID", "Type", "SKU", "Name", "Published", "Regular price", "Categories", "Parent")
Row = tuple[int, dict[str, str]]


def _kind(row: dict[str, str]) -> str:
    kinds = words(row.get("Type", "").lower())
    for kind in ("variation", "variable", "simple"):
        if kind in kinds:
            return kind
    return kinds[0] if kinds else ""


def _money(table: Table, line: int, row: dict[str, str], column: str) -> str | None:
    value = row.get(column, "").strip()
    if not value:
        return None
    try:
        return f"{Decimal(value):.2f}"
    except InvalidOperation:
        raise CatalogImportError(f"{table.path}:{line}: {column}: not a price: {value!r}") from None


def _stock(table: Table, line: int, row: dict[str, str]) -> str:
    value = row.get("Stock", "").strip()
    if value:
        try:
            return str(max(int(float(value)), 0))
        except ValueError:
            raise CatalogImportError(
                f"{table.path}:{line}: Stock: not a number: {value!r}"
            ) from None
    if row.get("In stock?", "").strip() in ("0", ""):
        return "0"
    raise CatalogImportError(
        f"{table.path}:{line}: Stock: the product is in stock but WooCommerce does not count "
        "it (enable stock management, or write a quantity in the Stock column)"
    )


def _attributes(row: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for n in range(1, 10):
        name = row.get(f"Attribute {n} name", "").strip()
        value = row.get(f"Attribute {n} value(s)", "").strip()
        if name and value:
            out.append((name, value))
    return out


def _offer(table: Table, line: int, row: dict[str, str]) -> dict[str, str]:
    price = _money(table, line, row, "Regular price")
    if price is None:
        raise CatalogImportError(f"{table.path}:{line}: Regular price: missing")
    offer = {"price": price}
    if (sale := _money(table, line, row, "Sale price")) is not None:
        offer["sale_price"] = sale
    offer["stock"] = _stock(table, line, row)
    return offer


def _product(row: dict[str, str], draft: CatalogDraft, language: str) -> dict[str, Any]:
    meta = {k.removeprefix("Meta: "): v.strip() for k, v in row.items() if k.startswith("Meta: ")}
    other = other_language(language)
    sku = row["SKU"].strip() or slug(row["Name"]).upper()
    product: dict[str, Any] = {"sku": sku.upper()}
    product["name"] = localized(language, row["Name"].strip(), meta.get(f"name_{other}", ""))
    text = row.get("Description", "").strip() or row.get("Short description", "").strip()
    text = plain_text(text.replace("\\n", " "))
    if description := localized(language, text, plain_text(meta.get(f"description_{other}", ""))):
        product["description"] = description
    category = words(row.get("Categories", ""))
    product["category"] = draft.category(category[0].split(">")[-1].strip() if category else "")
    if tags := words(row.get("Tags", "")):
        product["tags"] = tags
    if aliases := words(meta.get("aliases", "")):
        product["aliases"] = aliases
    if meta.get("warranty"):
        product["warranty"] = {language: meta["warranty"]}
    if meta.get("restock_date"):
        product["restock"] = meta["restock_date"]
    return product


def _specs(attributes: list[tuple[str, str]], options: list[str], language: str) -> dict[str, Any]:
    return {name: {language: value} for name, value in attributes if name not in options}


def _variable(
    parent: Row, variations: list[Row], table: Table, draft: CatalogDraft, language: str
) -> dict[str, Any]:
    product = _product(parent[1], draft, language)
    names = [name for name, _ in _attributes(parent[1])]
    used = {name for _, row in variations for name, _ in _attributes(row)}
    options = [name for name in names if name in used]
    product["options"] = [o.lower().replace(" ", "_") for o in options]
    product["variants"] = []
    for line, row in variations:
        values = dict(_attributes(row))
        variant: dict[str, Any] = {o.lower().replace(" ", "_"): values.get(o, "") for o in options}
        if not row["SKU"].strip():
            raise CatalogImportError(f"{table.path}:{line}: SKU: every variation needs a SKU")
        variant["sku"] = row["SKU"].strip()
        product["variants"].append(variant | _offer(table, line, row))
    if specs := _specs(_attributes(parent[1]), options, language):
        product["specs"] = specs
    return product


def import_woocommerce(path: Path, language: str = "en") -> str:
    """The catalog.yaml text for a WooCommerce product CSV export.

    Raises:
        CatalogImportError: unreadable file, a required column missing, a variation whose parent
            is not in the file, a price or stock that is not a number.
    """
    table = read_table(path)
    table.require(REQUIRED)
    parents: dict[str, Row] = {}
    children: dict[str, list[Row]] = {}
    order: list[Row] = []
    for line, row in table.rows:
        kind = _kind(row)
        if kind == "variation":
            children.setdefault(row["Parent"].strip(), []).append((line, row))
        elif kind in ("simple", "variable"):
            order.append((line, row))
            parents[f"id:{row['ID'].strip()}"] = parents[row["SKU"].strip()] = (line, row)
    for ref, rows in children.items():
        if ref not in parents:
            raise CatalogImportError(f"{path}:{rows[0][0]}: Parent: no product {ref} in this file")
    draft = CatalogDraft()
    for line, row in order:
        if row.get("Published", "").strip() != "1":
            continue  # drafts (-1) and private products (0) are not for customers
        variations = children.get(f"id:{row['ID'].strip()}", []) + children.get(
            row["SKU"].strip(), []
        )
        if _kind(row) == "variable":
            draft.products.append(_variable((line, row), variations, table, draft, language))
            continue
        product = _product(row, draft, language) | _offer(table, line, row)
        if specs := _specs(_attributes(row), [], language):
            product["specs"] = specs
        draft.products.append(product)
    if not draft.products:
        raise CatalogImportError(f"{path}:1: no published product to import")
    return dump_catalog(draft, path, "woocommerce")
