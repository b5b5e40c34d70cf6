"""Build customers and orders from orders.yaml, checking them against the catalog and shop."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.knowledge.format_rules import OrderIn, OrdersFile
from core.knowledge.loader_catalog import Problems
from core.knowledge.model import (
    Customer,
    Identity,
    Order,
    OrderItem,
    Product,
    Refund,
    ShopInfo,
    Variant,
)
from core.knowledge.yamlsrc import LocatedYaml


def _customers(file: OrdersFile, doc: LocatedYaml, problems: Problems) -> dict[str, Customer]:
    customers: dict[str, Customer] = {}
    owners: dict[Identity, str] = {}
    for index, item in enumerate(file.customers):
        if item.id in customers:
            problems.at(doc, ("customers", index, "id"), f"duplicate customer id {item.id}")
        identities = frozenset(Identity(p, u) for p, u in item.identities.pairs())
        for identity in identities:
            # One platform account must never unlock two customers' orders.
            if owners.setdefault(identity, item.id) != item.id:
                problems.at(
                    doc,
                    ("customers", index, "identities"),
                    f"{identity.platform} user {identity.user_id} already belongs to customer "
                    f"{owners[identity]}",
                )
        customers[item.id] = Customer(item.id, item.name, identities)
    return customers


def _variant_index(products: Sequence[Product]) -> dict[str, tuple[Product, Variant | None]]:
    """SKU -> (product, variant); a product SKU names its variant only when it has one."""
    index: dict[str, tuple[Product, Variant | None]] = {}
    for product in products:
        only = product.variants[0] if len(product.variants) == 1 else None
        index[product.sku] = (product, only)
        index.update({v.sku: (product, v) for v in product.variants if v.sku})
    return index


def _items(
    item: OrderIn,
    loc: tuple[str | int, ...],
    doc: LocatedYaml,
    index: dict[str, tuple[Product, Variant | None]],
    problems: Problems,
) -> tuple[OrderItem, ...]:
    items = []
    for pos, line in enumerate(item.items):
        found = index.get(line.sku)
        if found is None:
            problems.at(doc, (*loc, "items", pos, "sku"), f"unknown SKU {line.sku}")
            continue
        product, variant = found
        if variant is None:
            names = ", ".join(v.sku for v in product.variants)
            problems.at(
                doc, (*loc, "items", pos, "sku"), f"{line.sku} has variants: name one ({names})"
            )
            continue
        label = variant.label if variant.options else None
        items.append(
            OrderItem(
                line.sku,
                product.name,
                variant.size,
                line.quantity,
                line.unit_price,
                product.sku,
                label,
            )
        )
    return tuple(items)


def _order(item: OrderIn, customer: Customer, items: tuple[OrderItem, ...]) -> Order:
    refund = item.refund
    return Order(
        order_no=item.order_no,
        customer_id=customer.id,
        identities=customer.identities,
        items=items,
        status=item.status,
        placed=item.placed,
        total=item.total,
        shipped=item.shipped,
        delivered=item.delivered,
        carrier=item.carrier,
        tracking=item.tracking,
        estimated_delivery=item.estimated_delivery,
        ship_by=item.ship_by,
        refund=Refund(
            refund.status, refund.amount, refund.date,
            refund.reason.value() if refund.reason else None,
        ) if refund else None,
    )  # fmt: skip


def build_orders(
    file: OrdersFile,
    doc: LocatedYaml,
    products: Sequence[Product],
    shop: ShopInfo,
    problems: Problems,
) -> tuple[tuple[Customer, ...], tuple[Order, ...]]:
    customers = _customers(file, doc, problems)
    index = _variant_index(products)
    try:
        number = re.compile(shop.order_number_pattern)
    except re.error:
        number = None  # reported at shop.yaml
    orders: list[Order] = []
    seen: set[str] = set()
    for position, item in enumerate(file.orders):
        loc: tuple[str | int, ...] = ("orders", position)
        if item.order_no in seen:
            problems.at(doc, (*loc, "order_no"), f"duplicate order number {item.order_no}")
        seen.add(item.order_no)
        if number is not None and not number.fullmatch(item.order_no):
            problems.at(
                doc, (*loc, "order_no"),
                f"{item.order_no} does not match the shop's number_pattern "
                f"{shop.order_number_pattern} (shop.yaml orders)",
            )  # fmt: skip
        customer = customers.get(item.customer)
        if customer is None:
            problems.at(doc, (*loc, "customer"), f"unknown customer '{item.customer}'")
            continue
        orders.append(_order(item, customer, _items(item, loc, doc, index, problems)))
    return tuple(customers.values()), tuple(orders)
