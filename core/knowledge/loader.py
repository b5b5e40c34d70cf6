"""Load a knowledge folder (format 2): read every file, validate everything, then build one value.

Nothing is returned unless the whole folder is valid, so a bot never starts (or reloads)
half-loaded. All problems are collected and raised together in one
:class:`core.errors.ConfigError`, each as ``file:line: path: problem``.
:func:`inspect_knowledge` returns them instead (for ``knowledge check``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ConfigError
from core.knowledge.format import CatalogFile, FaqFile, ShopFile
from core.knowledge.format_rules import OrdersFile, PromotionsFile
from core.knowledge.loader_catalog import Problems, build_products, build_promotions, visible
from core.knowledge.loader_orders import build_orders
from core.knowledge.model import FaqEntry, Knowledge, PolicySection, ShopInfo
from core.knowledge.yamlsrc import LocatedYaml, read_yaml, validation_errors

SchemaT = TypeVar("SchemaT", bound=BaseModel)
HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")
MIGRATE_HINT = (
    "this folder is knowledge format 1 (shop.yaml has no `format: 2`); convert it with "
    "`python main.py knowledge migrate {folder} NEW_FOLDER` (docs/knowledge-format.md §11)"
)


def _validate(
    path: Path, schema: type[SchemaT], problems: Problems, required: bool
) -> tuple[SchemaT | None, LocatedYaml | None]:
    if not path.exists():
        if required:
            problems.add(f"{path}:1: required file is missing")
        return None, None
    try:
        doc = read_yaml(path)
    except ConfigError as exc:
        problems.add(str(exc))
        return None, None
    if not isinstance(doc.data, dict):
        problems.add(f"{path}:1: the top level must be a mapping")
        return None, doc
    try:
        return schema.model_validate(doc.data), doc
    except ValidationError as exc:
        for message in validation_errors(doc, exc):
            problems.add(message)
    return None, doc


def _faq(file: FaqFile, doc: LocatedYaml, problems: Problems) -> tuple[FaqEntry, ...]:
    seen: set[str] = set()
    for index, item in enumerate(file.faq):
        if item.id in seen:
            problems.at(doc, ("faq", index, "id"), f"duplicate FAQ id {item.id}")
        seen.add(item.id)
    return tuple(
        FaqEntry(i.id, i.question.value(), i.answer.value(), tuple(i.tags), tuple(i.paraphrases))
        for i in file.faq
    )


def _order_numbers(shop: ShopFile, doc: LocatedYaml, problems: Problems) -> dict[str, str]:
    """The shop's order-number form, when it gives one and it is usable."""
    numbers = shop.orders
    if numbers is None:
        return {}
    try:
        pattern = re.compile(numbers.number_pattern)
    except re.error as exc:
        problems.at(doc, ("orders", "number_pattern"), f"not a regular expression: {exc}")
        return {}
    if pattern.fullmatch(""):
        problems.at(doc, ("orders", "number_pattern"), "matches an empty text")
    elif not pattern.fullmatch(numbers.number_example):
        problems.at(
            doc, ("orders", "number_example"),
            f"{numbers.number_example} does not match number_pattern {numbers.number_pattern}",
        )  # fmt: skip
    return {
        "order_number_pattern": numbers.number_pattern,
        "order_number_example": numbers.number_example,
    }


def _shop(shop: ShopFile, doc: LocatedYaml, problems: Problems) -> ShopInfo:
    return ShopInfo(
        name=shop.name.value(),
        currency=shop.currency,
        currency_symbol=shop.currency_symbol,
        timezone=shop.timezone,
        persona=shop.persona.value() if shop.persona else None,
        languages=tuple(lang for lang in ("zh", "en") if lang in shop.languages),
        hours=shop.hours.value() if shop.hours else None,
        contact=tuple(shop.contact.items()),
        **_order_numbers(shop, doc, problems),  # type: ignore[arg-type]
    )


def _slug(heading: str, taken: set[str], index: int) -> str:
    words = re.findall(r"[a-z0-9]+", heading.lower())
    slug = "-".join(words) or f"section-{index}"
    base, n = slug, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def parse_policy(path: Path, problems: Problems) -> tuple[PolicySection, ...]:
    """Split one Markdown policy into sections at ``#``..``###`` headings.

    A leading ``# Title`` names the document; text between it and the first sub-heading
    becomes a section of its own.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(f"{path}:1: cannot read policy: {exc}")
        return ()
    title = path.stem
    raw: list[tuple[str, int, list[str]]] = [(title, 1, [])]
    for number, line in enumerate(lines, start=1):
        match = HEADING.match(line)
        if match is None:
            raw[-1][2].append(line)
        elif len(match.group(1)) == 1 and len(raw) == 1 and not "".join(raw[0][2]).strip():
            title = match.group(2)
            raw[0] = (title, number, [])
        else:
            raw.append((match.group(2), number, []))
    if not "".join(raw[0][2]).strip():
        raw.pop(0)  # no preamble
    sections: list[PolicySection] = []
    taken: set[str] = set()
    for index, (heading, line_no, body) in enumerate(raw, start=1):
        text = "\n".join(body).strip()
        if not text:
            problems.add(f"{path}:{line_no}: section '{heading}' has no text")
            continue
        full_heading = title if heading == title else f"{title} — {heading}"
        sections.append(PolicySection(path.stem, _slug(heading, taken, index), full_heading, text))
    if not raw:
        problems.add(f"{path}:1: policy has no text")
    return tuple(sections)


def _format_one(folder: Path) -> str | None:
    """The migration hint when shop.yaml is a format-1 file (no ``format`` key)."""
    path = folder / "shop.yaml"
    try:
        doc = read_yaml(path)
    except ConfigError:
        return None  # reported with the other problems
    if isinstance(doc.data, dict) and "format" not in doc.data:
        return f"{path}:1: format: " + MIGRATE_HINT.format(folder=folder)
    return None


def _policies(policy_dir: Path, problems: Problems) -> tuple[PolicySection, ...]:
    if not policy_dir.is_dir():
        return ()
    return tuple(s for p in sorted(policy_dir.glob("*.md")) for s in parse_policy(p, problems))


def inspect_knowledge(folder: Path | str) -> tuple[Knowledge | None, list[str]]:
    """Read and validate a knowledge folder; the value (when valid) and every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        return None, [f"{folder}:1: knowledge folder does not exist"]
    if hint := _format_one(folder):
        return None, [hint]
    problems = Problems()
    shop, shop_doc = _validate(folder / "shop.yaml", ShopFile, problems, required=True)
    catalog, catalog_doc = _validate(folder / "catalog.yaml", CatalogFile, problems, required=True)
    promos, promos_doc = _validate(
        folder / "promotions.yaml", PromotionsFile, problems, required=False
    )
    faq_file, faq_doc = _validate(folder / "faq.yaml", FaqFile, problems, required=False)
    orders_file, orders_doc = _validate(
        folder / "orders.yaml", OrdersFile, problems, required=False
    )
    policies = _policies(folder / "policies", problems)
    info = _shop(shop, shop_doc, problems) if shop and shop_doc else None
    if catalog is None or catalog_doc is None or info is None:
        # Without a valid catalog every SKU reference would be reported as unknown; the
        # catalog's own problems are what the owner must fix first.
        return None, problems.messages
    products = build_products(catalog, catalog_doc, problems)
    skus = {p.sku for p in products} | {v.sku for p in products for v in p.variants}
    promotions = (
        build_promotions(promos, promos_doc, skus, set(catalog.categories), problems)
        if promos and promos_doc
        else ()
    )
    faq = _faq(faq_file, faq_doc, problems) if faq_file and faq_doc else ()
    customers, orders = (
        build_orders(orders_file, orders_doc, products, info, problems)
        if orders_file and orders_doc
        else ((), ())
    )
    if problems.messages:
        return None, problems.messages
    shown = visible(products)
    return Knowledge(
        folder=folder,
        shop=info,
        products=shown,
        promotions=promotions,
        faq=faq,
        policies=policies,
        customers=customers,
        orders=orders,
        categories=tuple((key, value.value()) for key, value in catalog.categories.items()),
        hidden=tuple(p for p in products if p not in shown),
    ), []


def load_knowledge(folder: Path | str) -> Knowledge:
    """Read, validate and assemble a knowledge folder.

    Raises:
        ConfigError: listing every problem as ``file:line: path: problem``.
    """
    knowledge, problems = inspect_knowledge(folder)
    if knowledge is None:
        listed = "\n  ".join(problems)
        raise ConfigError(
            f"knowledge folder {folder} is invalid ({len(problems)} problem(s)):\n  {listed}"
        )
    return knowledge
