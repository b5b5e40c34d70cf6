"""Load a knowledge folder: read every file, validate everything, then build one value.

Nothing is returned unless the whole folder is valid, so a bot never starts (or reloads)
half-loaded. All problems are collected and raised together in one
:class:`core.errors.ConfigError`, each as ``file:line: path: problem``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ConfigError
from core.knowledge.format import (
    CatalogFile,
    FaqFile,
    LocalizedIn,
    OrdersFile,
    PromotionsFile,
    ShopFile,
)
from core.knowledge.model import (
    Customer,
    FaqEntry,
    Identity,
    Knowledge,
    Localized,
    Order,
    OrderItem,
    PolicySection,
    Product,
    Promotion,
    ShopInfo,
    Variant,
)
from core.knowledge.yamlsrc import LocatedYaml, read_yaml, validation_errors

SchemaT = TypeVar("SchemaT", bound=BaseModel)
HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")


class _Problems:
    """Collects every problem so the owner sees all of them in one run."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self, folder: Path) -> None:
        if self.messages:
            listed = "\n  ".join(self.messages)
            raise ConfigError(
                f"knowledge folder {folder} is invalid ({len(self.messages)} problem(s)):\n  {listed}"
            )


def _loc(value: LocalizedIn | None) -> Localized:
    return Localized(value.zh, value.en) if value else Localized("", "")


def _validate(
    path: Path, schema: type[SchemaT], problems: _Problems, required: bool
) -> tuple[SchemaT | None, LocatedYaml | None]:
    if not path.exists():
        if required:
            problems.add(f"{path}:1: required file is missing")
        return None, None
    try:
        doc = read_yaml(path)
        if not isinstance(doc.data, dict):
            problems.add(f"{path}:1: the top level must be a mapping")
            return None, doc
        return schema.model_validate(doc.data), doc
    except ConfigError as exc:
        problems.add(str(exc))
    except ValidationError as exc:
        for message in validation_errors(doc, exc):
            problems.add(message)
    return None, None


def _products(catalog: CatalogFile, doc: LocatedYaml, problems: _Problems) -> tuple[Product, ...]:
    products: list[Product] = []
    seen: set[str] = set()
    for index, item in enumerate(catalog.products):
        if item.sku in seen:
            problems.add(doc.error(("products", index, "sku"), f"duplicate SKU {item.sku}").message)
        seen.add(item.sku)
        category = catalog.categories.get(item.category)
        if category is None:
            known = ", ".join(sorted(catalog.categories))
            problems.add(
                doc.error(
                    ("products", index, "category"),
                    f"unknown category '{item.category}' (known: {known})",
                ).message
            )
            continue
        products.append(
            Product(
                sku=item.sku,
                name=_loc(item.name),
                category=item.category,
                category_name=_loc(category),
                price=item.price,
                variants=tuple(Variant(v.size, v.color or "", v.stock) for v in item.variants),
                attributes=tuple((key, _loc(value)) for key, value in item.attributes.items()),
                description=_loc(item.description),
                tags=tuple(item.tags),
            )
        )
    return tuple(products)


def _promotions(
    file: PromotionsFile,
    doc: LocatedYaml,
    skus: set[str],
    categories: set[str],
    problems: _Problems,
) -> tuple[Promotion, ...]:
    out: list[Promotion] = []
    seen: set[str] = set()
    for index, item in enumerate(file.promotions):
        if item.id in seen:
            problems.add(
                doc.error(("promotions", index, "id"), f"duplicate promotion id {item.id}").message
            )
        seen.add(item.id)
        for pos, sku in enumerate(item.skus):
            if sku not in skus:
                problems.add(
                    doc.error(("promotions", index, "skus", pos), f"unknown SKU {sku}").message
                )
        for pos, category in enumerate(item.categories):
            if category not in categories:
                problems.add(
                    doc.error(
                        ("promotions", index, "categories", pos), f"unknown category {category}"
                    ).message
                )
        out.append(
            Promotion(
                id=item.id,
                name=_loc(item.name),
                kind=item.kind,
                starts=item.starts,
                ends=item.ends,
                percent_off=item.percent_off or Decimal(0),
                amount_off=item.amount_off or Decimal(0),
                threshold=item.threshold or Decimal(0),
                skus=frozenset(item.skus),
                categories=frozenset(item.categories),
                description=_loc(item.description),
            )
        )
    return tuple(out)


def _faq(file: FaqFile, doc: LocatedYaml, problems: _Problems) -> tuple[FaqEntry, ...]:
    seen: set[str] = set()
    for index, item in enumerate(file.faq):
        if item.id in seen:
            problems.add(doc.error(("faq", index, "id"), f"duplicate FAQ id {item.id}").message)
        seen.add(item.id)
    return tuple(FaqEntry(i.id, _loc(i.question), _loc(i.answer), tuple(i.tags)) for i in file.faq)


def _customers(file: OrdersFile, doc: LocatedYaml, problems: _Problems) -> dict[str, Customer]:
    customers: dict[str, Customer] = {}
    owners: dict[Identity, str] = {}
    for index, item in enumerate(file.customers):
        if item.id in customers:
            problems.add(
                doc.error(("customers", index, "id"), f"duplicate customer id {item.id}").message
            )
        identities = frozenset(Identity(p, u) for p, u in item.identities.pairs())
        for identity in identities:
            # One platform account must never unlock two customers' orders.
            if owners.setdefault(identity, item.id) != item.id:
                problems.add(
                    doc.error(
                        ("customers", index, "identities"),
                        f"{identity.platform} user {identity.user_id} already belongs to customer {owners[identity]}",
                    ).message
                )
        customers[item.id] = Customer(item.id, item.name, identities)
    return customers


def _orders(
    file: OrdersFile, doc: LocatedYaml, by_sku: dict[str, Product], problems: _Problems
) -> tuple[tuple[Customer, ...], tuple[Order, ...]]:
    customers = _customers(file, doc, problems)
    orders: list[Order] = []
    seen: set[str] = set()
    for index, item in enumerate(file.orders):
        if item.order_no in seen:
            problems.add(
                doc.error(
                    ("orders", index, "order_no"), f"duplicate order number {item.order_no}"
                ).message
            )
        seen.add(item.order_no)
        customer = customers.get(item.customer)
        if customer is None:
            problems.add(
                doc.error(
                    ("orders", index, "customer"), f"unknown customer '{item.customer}'"
                ).message
            )
            continue
        items = []
        for pos, line in enumerate(item.items):
            product = by_sku.get(line.sku)
            if product is None:
                problems.add(
                    doc.error(
                        ("orders", index, "items", pos, "sku"), f"unknown SKU {line.sku}"
                    ).message
                )
                continue
            items.append(
                OrderItem(line.sku, product.name, line.size, line.quantity, line.unit_price)
            )
        orders.append(
            Order(
                order_no=item.order_no,
                customer_id=customer.id,
                identities=customer.identities,
                items=tuple(items),
                status=item.status,
                placed=item.placed,
                total=item.total,
                shipped=item.shipped,
                delivered=item.delivered,
                carrier=item.carrier,
                tracking=item.tracking,
                estimated_delivery=item.estimated_delivery,
            )
        )
    return tuple(customers.values()), tuple(orders)


def _slug(heading: str, taken: set[str], index: int) -> str:
    words = re.findall(r"[a-z0-9]+", heading.lower())
    slug = "-".join(words) or f"section-{index}"
    base, n = slug, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def parse_policy(path: Path, problems: _Problems) -> tuple[PolicySection, ...]:
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


def load_knowledge(folder: Path | str) -> Knowledge:
    """Read, validate and assemble a knowledge folder.

    Raises:
        ConfigError: listing every problem as ``file:line: path: problem``.
    """
    folder = Path(folder)
    problems = _Problems()
    if not folder.is_dir():
        raise ConfigError(f"{folder}:1: knowledge folder does not exist")
    shop, _ = _validate(folder / "shop.yaml", ShopFile, problems, required=True)
    catalog, catalog_doc = _validate(folder / "catalog.yaml", CatalogFile, problems, required=True)
    promos, promos_doc = _validate(
        folder / "promotions.yaml", PromotionsFile, problems, required=False
    )
    faq_file, faq_doc = _validate(folder / "faq.yaml", FaqFile, problems, required=False)
    orders_file, orders_doc = _validate(
        folder / "orders.yaml", OrdersFile, problems, required=False
    )
    policy_dir = folder / "policies"
    policies = (
        tuple(s for p in sorted(policy_dir.glob("*.md")) for s in parse_policy(p, problems))
        if policy_dir.is_dir()
        else ()
    )

    if catalog is None or catalog_doc is None:
        # Without a valid catalog every SKU reference would be reported as unknown; the
        # catalog's own problems are what the owner must fix first.
        problems.raise_if_any(folder)
    assert catalog is not None and catalog_doc is not None
    products = _products(catalog, catalog_doc, problems)
    by_sku = {p.sku: p for p in products}
    categories = set(catalog.categories)
    promotions = (
        _promotions(promos, promos_doc, set(by_sku), categories, problems)
        if promos and promos_doc
        else ()
    )
    faq = _faq(faq_file, faq_doc, problems) if faq_file and faq_doc else ()
    customers, orders = (
        _orders(orders_file, orders_doc, by_sku, problems)
        if orders_file and orders_doc
        else ((), ())
    )
    problems.raise_if_any(folder)
    assert shop is not None  # a missing shop.yaml is a problem raised above
    return Knowledge(
        folder=folder,
        shop=ShopInfo(
            _loc(shop.name),
            shop.currency,
            shop.currency_symbol,
            shop.timezone,
            _loc(shop.contact) if shop.contact else None,
        ),
        products=products,
        promotions=promotions,
        faq=faq,
        policies=policies,
        customers=customers,
        orders=orders,
    )
