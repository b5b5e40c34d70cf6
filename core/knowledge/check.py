"""``knowledge check``: validate a knowledge folder and warn about what customers will notice.

Needs no model, store or network (imports only the loader), so it runs in well under two
seconds. Errors are the loader's ``file:line: path: problem`` lines; warnings add what is
valid but probably a mistake on ``today`` (a product sold out with no restock date ahead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from core.errors import ConfigError
from core.knowledge.loader import inspect_knowledge
from core.knowledge.model import Knowledge, Product
from core.knowledge.yamlsrc import read_yaml


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What ``knowledge check`` prints: errors, warnings and a one-line summary."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    summary: str

    @property
    def ok(self) -> bool:
        return not self.errors


def _product_lines(folder: Path) -> dict[str, str]:
    """SKU -> ``catalog.yaml:LINE: products[i]`` (where a warning about it points)."""
    path = folder / "catalog.yaml"
    try:
        doc = read_yaml(path)
    except ConfigError:
        return {}
    products = doc.data.get("products", []) if isinstance(doc.data, dict) else []
    where = {}
    for index, item in enumerate(products):
        if isinstance(item, dict) and isinstance(item.get("sku"), str):
            line = doc.line_of(("products", index))
            where[item["sku"].strip().upper()] = f"{path}:{line}: products[{index}]"
    return where


def _sold_out(product: Product, today: date) -> str | None:
    if not product.sold or product.total_stock:
        return None
    restock = [d for d in (product.restock, *(v.restock for v in product.variants)) if d]
    ahead = [d for d in restock if d >= today]
    if ahead:
        return None
    if restock:
        return f"{product.sku} is sold out and its restock date {max(restock)} has passed"
    return f"{product.sku} is sold out with no restock date"


def warnings_for(knowledge: Knowledge, today: date) -> list[str]:
    """Valid but suspicious on ``today``: sold-out products customers cannot be told about."""
    where = _product_lines(knowledge.folder)
    found = []
    for product in knowledge.products:
        if problem := _sold_out(product, today):
            found.append(f"{where.get(product.sku, knowledge.folder)}: warning: {problem}")
    return found


def _summary(knowledge: Knowledge) -> str:
    variants = sum(len(p.variants) for p in knowledge.products)
    return (
        f"{len(knowledge.products)} products ({variants} variants), "
        f"{len(knowledge.promotions)} promotions, {len(knowledge.faq)} FAQ entries, "
        f"{len(knowledge.policies)} policy sections, {len(knowledge.orders)} orders"
    )


def check_folder(folder: Path, today: date) -> CheckReport:
    """Validate ``folder`` as on ``today``."""
    knowledge, errors = inspect_knowledge(folder)
    if knowledge is None:
        return CheckReport(tuple(errors), (), f"{folder}: {len(errors)} problem(s)")
    warnings = warnings_for(knowledge, today)
    return CheckReport(
        (),
        tuple(warnings),
        f"{folder}: {_summary(knowledge)}: no problems, {len(warnings)} warning(s)",
    )
