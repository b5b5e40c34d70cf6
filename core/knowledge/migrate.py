"""Convert a format-1 knowledge folder to format 2 (docs/knowledge-format.md §11).

Format 1 knew clothes only: variants were ``{size, color, stock}`` of a product with one
price, promotions were ``percent_off`` or ``amount_off_over``, and order items named a
product SKU and a size. Format 2 gives every variant its own SKU (``<SKU>-<SIZE>-<COLOUR>``
here), writes promotions as rules and order items as variant SKUs. An order item whose
size exists in several colours takes the first of them: the migration says which, so the
owner can check. Comments are not carried over; the files are rewritten as plain YAML.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from core.knowledge.yamlsrc import read_yaml

FORMAT_ONE_NUMBER = r"[A-Z]{1,4}\d{8}-\d{4}"


def _token(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _variant_sku(sku: str, size: str, colour: str, options: list[str]) -> str:
    parts = [sku] + [
        _token(v) for name, v in (("size", size), ("color", colour)) if name in options
    ]
    return "-".join(parts)


def _product(item: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """The format-2 product and its (size, colour) -> variant SKU map."""
    variants = item.pop("variants", [])
    sizes = {str(v["size"]) for v in variants}
    colours = {v.get("color") or "" for v in variants}
    options = (["size"] if sizes != {"ONE"} else []) + (["color"] if colours != {""} else [])
    price = item.pop("price")
    skus: dict[tuple[str, str], str] = {}
    out: dict[str, Any] = {k: item[k] for k in ("sku", "name", "category") if k in item}
    if not options:
        skus[("ONE", "")] = item["sku"]
        out |= {"price": price, "stock": sum(int(v["stock"]) for v in variants)}
    else:
        out |= {"price": price, "options": options, "variants": []}
        for v in variants:
            size, colour = str(v["size"]), v.get("color") or ""
            sku = _variant_sku(item["sku"], size, colour, options)
            skus[(size, colour)] = sku
            values = {"size": size, "color": colour}
            row = {name: values[name] for name in options}
            out["variants"].append(row | {"sku": sku, "stock": int(v["stock"])})
    rest = {k: v for k, v in item.items() if k not in out}
    return out | rest, skus


def _promotion(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    if out.get("kind") == "percent_off":
        out["percent"] = out.pop("percent_off")
    elif out.get("kind") == "amount_off_over":
        out["kind"] = "spend_threshold"
        out["tiers"] = [{"spend": out.pop("threshold"), "off": out.pop("amount_off")}]
    return out


def _order(
    order: dict[str, Any], skus: dict[str, dict[tuple[str, str], str]], notes: list[str]
) -> dict[str, Any]:
    for line in order.get("items", []):
        size = str(line.pop("size", "ONE"))
        by_option = skus.get(str(line["sku"]).upper(), {})
        matches = [sku for (s, _), sku in by_option.items() if s.upper() == size.upper()]
        if len(matches) > 1:
            notes.append(
                f"order {order['order_no']}: {line['sku']} size {size} exists in several "
                f"colours; {matches[0]} was chosen (check it)"
            )
        if matches:
            line["sku"] = matches[0]
    return order


def _dump(data: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return f"# {header}\n{body}"


def migrate(source: Path, target: Path, number_pattern: str = FORMAT_ONE_NUMBER) -> list[str]:
    """Write ``source`` (format 1) as format 2 into ``target``; returns notes to check.

    Raises:
        ConfigError: ``source`` is not a format-1 folder, or ``target`` is not empty.
    """
    shop = read_yaml(source / "shop.yaml").data
    if not isinstance(shop, dict) or "format" in shop:
        raise ConfigError(f"{source}/shop.yaml:1: not a format-1 knowledge folder")
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target}: the target folder is not empty")
    target.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    shop = {"format": 2, **shop}
    first: dict[str, Any] = next(iter(_orders(source).get("orders", [])), {})
    example = first.get("order_no", "")
    if example:
        shop["orders"] = {"number_pattern": number_pattern, "number_example": example}
    (target / "shop.yaml").write_text(_dump(shop, "Migrated from format 1."), encoding="utf-8")
    catalog = read_yaml(source / "catalog.yaml").data
    products, skus = [], {}
    for item in catalog["products"]:
        product, variant_skus = _product(dict(item))
        products.append(product)
        skus[str(item["sku"]).upper()] = variant_skus
    catalog = {"categories": catalog["categories"], "products": products}
    (target / "catalog.yaml").write_text(_dump(catalog, "Migrated from format 1."), "utf-8")
    _write_rest(source, target, skus, notes)
    return notes


def _orders(source: Path) -> dict[str, Any]:
    path = source / "orders.yaml"
    data = read_yaml(path).data if path.exists() else {}
    return data if isinstance(data, dict) else {}


def _write_rest(
    source: Path, target: Path, skus: dict[str, dict[tuple[str, str], str]], notes: list[str]
) -> None:
    if (source / "promotions.yaml").exists():
        promos = read_yaml(source / "promotions.yaml").data or {}
        promos = {"promotions": [_promotion(p) for p in promos.get("promotions", [])]}
        (target / "promotions.yaml").write_text(_dump(promos, "Migrated from format 1."), "utf-8")
    orders = _orders(source)
    if orders:
        orders["orders"] = [_order(o, skus, notes) for o in orders.get("orders", [])]
        (target / "orders.yaml").write_text(_dump(orders, "Migrated from format 1."), "utf-8")
    if (source / "faq.yaml").exists():
        shutil.copyfile(source / "faq.yaml", target / "faq.yaml")
    if (source / "policies").is_dir():
        shutil.copytree(source / "policies", target / "policies", dirs_exist_ok=True)
