"""Bilingual sentences for tool results: the facts given to the model and the templated
direct replies (tools compute, the model chats).

Every amount goes through :meth:`ShopInfo.money` (``¥239.20``) and every date is ISO, so
the grounding check can match what the model copies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from core.knowledge.model import (
    REFUND_NAMES,
    STATUS_NAMES,
    Order,
    OrderStatus,
    Product,
    Promotion,
    PromotionKind,
    ShopInfo,
)
from core.knowledge.pricing import Quote, zh_discount
from core.texts import Language

CARRIERS_ZH = {"SF Express": "顺丰速运", "JD Logistics": "京东物流"}
COLOURS_ZH = {
    "white": "白色",
    "black": "黑色",
    "grey": "灰色",
    "navy": "藏青",
    "light blue": "浅蓝",
    "khaki": "卡其",
    "camel": "驼色",
    "red": "红色",
    "brown": "棕色",
    "olive": "橄榄绿",
    "sage": "鼠尾草绿",
    "beige": "米色",
    "natural": "米白",
    "charcoal": "炭灰",
    "oatmeal": "燕麦色",
    "mustard": "芥末黄",
    "burgundy": "酒红",
    "indigo": "靛蓝",
    "floral blue": "蓝色碎花",
    "light wash": "浅色水洗",
    "navy stripe": "藏青条纹",
}


def _carrier(name: str, language: Language) -> str:
    return CARRIERS_ZH.get(name, name) if language == "zh" else name


# A clothing or shoe size ("M", "XL", "42", "32"); other options ("50 ml", "rich (dry
# skin)") are named as they are, without 码 or "size".
_GARMENT_SIZE = re.compile(r"(?:\d{1,2})?X{0,3}[SML]|\d{2,3}(?:\.5)?", re.IGNORECASE)


def item_size(size: str, language: Language) -> str:
    """How an item's size option is written after its name ("" for one size)."""
    if size == "ONE":
        return ""
    if _GARMENT_SIZE.fullmatch(size.strip()) is None:
        return f" {size}"
    return f" {size}码" if language == "zh" else f" size {size}"


def _items(order: Order, language: Language) -> str:
    if language == "zh":
        return "、".join(
            f"{i.name.zh}{item_size(i.size, language)} ×{i.quantity}" for i in order.items
        )
    return ", ".join(f"{i.name.en}{item_size(i.size, language)} ×{i.quantity}" for i in order.items)


def _status_zh(order: Order) -> str:
    status = STATUS_NAMES[order.status].zh
    if order.status is OrderStatus.SHIPPED:
        eta = (
            f"，预计{order.estimated_delivery.isoformat()}送达" if order.estimated_delivery else ""
        )
        return f"{status}，{order.shipped}由{_carrier(order.carrier, 'zh')}发出，快递单号{order.tracking}{eta}"
    if order.status is OrderStatus.DELIVERED or (
        order.delivered and order.status is not OrderStatus.CANCELLED
    ):
        return f"{status}，已于{order.delivered}签收（{_carrier(order.carrier, 'zh')}，快递单号{order.tracking}）"
    return status


def _status_en(order: Order) -> str:
    status = STATUS_NAMES[order.status].en
    if order.status is OrderStatus.SHIPPED:
        eta = (
            f", expected delivery {order.estimated_delivery.isoformat()}"
            if order.estimated_delivery
            else ""
        )
        return (
            f"{status} on {order.shipped} by {order.carrier}, tracking number {order.tracking}{eta}"
        )
    if order.status is OrderStatus.DELIVERED or (
        order.delivered and order.status is not OrderStatus.CANCELLED
    ):
        return f"{status}; delivered on {order.delivered} ({order.carrier}, tracking number {order.tracking})"
    return status


def _extras(order: Order, shop: ShopInfo, language: Language) -> str:
    """What an unshipped order's dates and a refund add (ships by, expected, refund)."""
    zh = language == "zh"
    parts = []
    if order.shipped is None and order.ship_by is not None:
        parts.append(f"预计{order.ship_by}前发货" if zh else f"ships by {order.ship_by}")
    if order.shipped is None and order.estimated_delivery is not None:
        parts.append(
            f"预计{order.estimated_delivery}送达"
            if zh
            else f"expected delivery {order.estimated_delivery}"
        )
    if order.refund is not None:
        refund = order.refund
        name = REFUND_NAMES[refund.status].get(language)
        amount = shop.money(refund.amount)
        parts.append(
            f"{name}{amount}（{refund.date}）" if zh else f"{name} {amount} on {refund.date}"
        )
    if not parts:
        return ""
    return ("；" + "；".join(parts)) if zh else ("; " + "; ".join(parts))


def order_fact(order: Order, shop: ShopInfo, language: Language) -> str:
    """One sentence with everything the customer may ask about an order."""
    total = shop.money(order.total)
    extras = _extras(order, shop, language)
    if language == "zh":
        return f"订单{order.order_no}（{order.placed}下单）：{_items(order, 'zh')}；合计{total}；状态：{_status_zh(order)}{extras}。"
    return f"Order {order.order_no} (placed {order.placed}): {_items(order, 'en')}; total {total}; status: {_status_en(order)}{extras}."


def orders_overview(orders: Sequence[Order], shop: ShopInfo, language: Language) -> str:
    """A short list of a customer's recent orders."""
    lines = [order_fact(o, shop, language) for o in orders]
    head = "您账户下最近的订单：" if language == "zh" else "The recent orders on your account:"
    return "\n".join([head, *lines])


def _promo_rule(promo: Promotion, shop: ShopInfo, language: Language) -> str:
    zh, money = language == "zh", shop.money
    if promo.kind is PromotionKind.PERCENT_OFF:
        return zh_discount(promo.percent_off) if zh else f"{promo.percent_off.normalize():f}% off"
    if promo.kind is PromotionKind.AMOUNT_OFF:
        return f"每件立减{money(promo.amount_off)}" if zh else f"{money(promo.amount_off)} off each"
    if promo.kind is PromotionKind.N_FOR_M:
        return f"买{promo.buy}付{promo.pay}" if zh else f"buy {promo.buy}, pay {promo.pay}"
    if promo.kind is PromotionKind.BUNDLE:
        return (
            f"组合价{money(promo.bundle_price)}" if zh else f"{money(promo.bundle_price)} together"
        )
    tiers = [(money(t.spend), money(t.off)) for t in promo.tiers]
    if zh:
        return "，".join(f"满{spend}减{off}" for spend, off in tiers)
    return "; ".join(f"{off} off orders of {spend} or more" for spend, off in tiers)


def promotion_fact(promo: Promotion, shop: ShopInfo, language: Language, today: date) -> str:
    """A promotion with its rule, its dates and whether it is running on ``today``."""
    dates = f"{promo.starts} – {promo.ends}"
    if language == "zh":
        state = (
            "进行中" if promo.is_active(today) else ("已结束" if promo.ends < today else "尚未开始")
        )
        return f"「{promo.name.zh}」（{state}，{dates}）：{promo.description.zh}"
    state = (
        "running now"
        if promo.is_active(today)
        else ("ended" if promo.ends < today else "not started yet")
    )
    return f"{promo.name.en} ({state}, {dates}): {promo.description.en}"


def _line_zh(quote: Quote, shop: ShopInfo) -> list[str]:
    parts = []
    for line in quote.lines:
        p = line.product
        if line.promotion:
            promo = line.promotion
            parts.append(
                f"{p.name.zh}（{p.sku}）原价{shop.money(line.list_price)}，参加「{promo.name.zh}」{zh_discount(promo.percent_off)}（{promo.starts}至{promo.ends}），今天到手价{shop.money(line.unit_price)}"
            )
        else:
            parts.append(
                f"{p.name.zh}（{p.sku}）售价{shop.money(line.unit_price)}，今天没有适用的折扣"
            )
        if line.quantity > 1:
            parts.append(f"{line.quantity}件共{shop.money(line.subtotal)}")
    return parts


def _line_en(quote: Quote, shop: ShopInfo) -> list[str]:
    parts = []
    for line in quote.lines:
        p = line.product
        if line.promotion:
            promo = line.promotion
            parts.append(
                f"{p.name.en} ({p.sku}) is {shop.money(line.list_price)} at list price; with the {promo.name.en} ({promo.percent_off.normalize():f}% off, {promo.starts} to {promo.ends}) it is {shop.money(line.unit_price)} today"
            )
        else:
            parts.append(
                f"{p.name.en} ({p.sku}) costs {shop.money(line.unit_price)}; no discount applies today"
            )
        if line.quantity > 1:
            parts.append(f"{line.quantity} of them come to {shop.money(line.subtotal)}")
    return parts


def price_fact(quote: Quote, shop: ShopInfo, language: Language) -> str:
    """Prices today, the discounts applied, and promotions that ended or are coming."""
    zh = language == "zh"
    parts = _line_zh(quote, shop) if zh else _line_en(quote, shop)
    if quote.order_promotion:
        promo = quote.order_promotion
        parts.append(
            f"再享「{promo.name.zh}」{_promo_rule(promo, shop, 'zh')}，合计{shop.money(quote.total)}"
            if zh
            else f"the {promo.name.en} takes {shop.money(quote.order_discount)} off, so the total is {shop.money(quote.total)}"
        )
    for promo in quote.upcoming:
        parts.append(
            f"另外「{promo.name.zh}」将于{promo.starts}开始（{_promo_rule(promo, shop, 'zh')}）"
            if zh
            else f"the {promo.name.en} starts on {promo.starts} ({_promo_rule(promo, shop, 'en')})"
        )
    for promo in quote.expired[-1:]:
        parts.append(
            f"「{promo.name.zh}」已于{promo.ends}结束"
            if zh
            else f"the {promo.name.en} ended on {promo.ends}"
        )
    return ("；".join(parts) + "。") if zh else ("; ".join(parts) + ".")


def _variant_label(size: str, colour: str, language: Language) -> str:
    if language == "zh":
        colour = COLOURS_ZH.get(colour, colour)
        label = f"{size}码" if size != "ONE" else "均码"
        return f"{label}（{colour}）" if colour else label
    label = f"size {size}" if size != "ONE" else "one size"
    return f"{label} ({colour})" if colour else label


def stock_fact(
    product: Product, sizes: Sequence[str], colours: Sequence[str], language: Language
) -> str:
    """Stock of the asked sizes/colours, plus what is in stock otherwise."""
    zh = language == "zh"
    if len({v.color for v in product.variants}) == 1:  # one colour: naming it is noise
        product = replace(product, variants=tuple(replace(v, color="") for v in product.variants))
        colours = ()
    asked = [
        v
        for v in product.variants
        if (not sizes or v.size in sizes) and (not colours or v.color in colours)
    ]
    name = f"{product.name.zh}（{product.sku}）" if zh else f"{product.name.en} ({product.sku})"
    if (sizes or colours) and not asked:
        missing = "、".join([*sizes, *colours]) if zh else ", ".join([*sizes, *colours])
        asked_text = f"没有{missing}这个款式" if zh else f"does not come in {missing}"
    else:
        shown = asked if (sizes or colours) else product.variants
        asked_text = ("；".join if zh else "; ".join)(
            (
                f"{_variant_label(v.size, v.color, 'zh')}{'有货，库存' + str(v.stock) + '件' if v.stock else '暂时缺货'}"
                if zh
                else f"{_variant_label(v.size, v.color, 'en')}: {str(v.stock) + ' in stock' if v.stock else 'out of stock'}"
            )
            for v in shown
        )
    others = [v for v in product.variants if v.stock and v not in asked]
    text = f"{name}：{asked_text}" if zh else f"{name}: {asked_text}"
    if (sizes or colours) and others:
        listing = (
            "、".join(f"{_variant_label(v.size, v.color, 'zh')}" for v in others)
            if zh
            else ", ".join(_variant_label(v.size, v.color, "en") for v in others)
        )
        text += f"。其他有货款式：{listing}" if zh else f". Also in stock: {listing}"
    if product.total_stock == 0:
        text += (
            "。该商品目前全部售罄" if zh else ". This product is currently sold out in every size"
        )
    return text + ("。" if zh else ".")


def product_fact(product: Product, quote: Quote, shop: ShopInfo, language: Language) -> str:
    """General product information for the model: name, price today, sizes in stock, attributes."""
    zh = language == "zh"
    sizes = sorted(
        {v.size for v in product.variants if v.stock},
        key=lambda s: [v.size for v in product.variants].index(s),
    )
    attributes = ("；".join if zh else "; ".join)(v.get(language) for _, v in product.attributes)
    price = shop.money(quote.lines[0].unit_price)
    if zh:
        size_text = "、".join(sizes) if sizes else "全部售罄"
        return f"{product.name.zh}（{product.sku}），{product.category_name.zh}，今天售价{price}；有货尺码：{size_text}；{attributes}。{product.description.zh}"
    size_text = ", ".join(sizes) if sizes else "sold out"
    return f"{product.name.en} ({product.sku}), {product.category_name.en}, {price} today; sizes in stock: {size_text}; {attributes}. {product.description.en}"
