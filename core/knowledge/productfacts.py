"""Product answers in the forms customers read and the grounding check matches: prices
(``¥359.10``) with the deals, totals and promotions that ended or are coming, stock
(``9 in stock`` / ``库存12件`` / ``暂时缺货`` with the restock date), and specifications and
warranty texts exactly as the knowledge writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from core.knowledge.answers import COLOURS_ZH
from core.knowledge.model import (
    Product,
    ProductStatus,
    Promotion,
    PromotionKind,
    ShopInfo,
    Spec,
    Variant,
)
from core.knowledge.pricing import LineQuote, Quote, zh_discount
from core.texts import Language


def variant_label(product: Product, variant: Variant, language: Language) -> str:
    """The options that tell this variant apart: ``14-inch / Navy``, ``42码 / 白色``.
    An option every variant shares (a shoe sold in white only) is left out."""
    parts = []
    for option in variant.options:
        values = {v.option(option.name) for v in product.variants}
        if len(values) < 2:
            continue
        value = option.value.get(language)
        if language == "zh":
            if option.name == "size" and value.upper() != "ONE":
                value = f"{value}码"
            elif option.value.zh == option.value.en:
                value = COLOURS_ZH.get(value.lower(), value)
        parts.append(value)
    return " / ".join(parts)


def product_name(product: Product, variant: Variant | None, language: Language) -> str:
    """``Trail Tent (TT-2) Green`` / ``徒步帐篷（TT-2）Green``."""
    zh = language == "zh"
    name = f"{product.name.zh}（{product.sku}）" if zh else f"{product.name.en} ({product.sku})"
    label = variant_label(product, variant, language) if variant is not None else ""
    return f"{name}{label}" if zh else (f"{name} {label}" if label else name)


def _line(
    line: LineQuote, shop: ShopInfo, language: Language, labelled: bool, shown: set[str]
) -> str:
    """One line's price; a bundle is stated once, at its own price ("组合价¥209.00"), not as
    each item's share of it. ``shown``: bundles already stated (updated)."""
    zh = language == "zh"
    name = product_name(line.product, line.variant if labelled else None, language)
    regular = shop.money(line.list_price)
    deal = next((d for d in line.deals), None)
    cheaper = deal is not None and line.line_total < line.list_price * line.quantity
    text = f"{name}售价{regular}" if zh else f"{name} is {regular}"
    if deal is not None and cheaper and deal.kind is PromotionKind.BUNDLE:
        if deal.id not in shown:
            shown.add(deal.id)
            price = shop.money(deal.bundle_price)
            text += (
                f"，「{deal.name.zh}」组合价{price}"
                if zh
                else f"; the {deal.name.en} is {price} together"
            )
    elif deal is not None and cheaper:
        if zh:
            rate = zh_discount(deal.percent_off) if deal.kind is PromotionKind.PERCENT_OFF else ""
            text += f"，参加「{deal.name.zh}」{rate}，今天到手价{shop.money(line.unit_price)}"
        else:
            text += f"; with the {deal.name.en} it is {shop.money(line.unit_price)} today"
    if line.quantity > 1:
        text += f"，{line.quantity}件" if zh else f", × {line.quantity}"
    return text


def _promotion_news(quote: Quote, language: Language) -> list[str]:
    zh = language == "zh"
    news = [
        f"「{promo.name.zh}」进行中，到{promo.ends}结束：{promo.description.zh}"
        if zh
        else f"the {promo.name.en} runs until {promo.ends}: {promo.description.en}"
        for promo in quote.available[:2]
    ]
    for promo in quote.expired[-1:]:
        news.append(
            f"「{promo.name.zh}」已于{promo.ends}结束"
            if zh
            else f"the {promo.name.en} ended on {promo.ends}"
        )
    for promo in quote.upcoming[:1]:
        news.append(
            f"「{promo.name.zh}」将于{promo.starts}开始"
            if zh
            else f"the {promo.name.en} starts on {promo.starts}"
        )
    return news


def quote_text(
    quote: Quote, shop: ShopInfo, language: Language, labelled: frozenset[str] = frozenset()
) -> str:
    """Each line's price today, the order deal, the total when there is more than one unit,
    and the promotions for these items that ended or are coming.

    ``labelled``: variant SKUs the customer named (their options are shown).
    """
    zh = language == "zh"
    bundles: set[str] = set()
    parts = [
        _line(
            line, shop, language, line.variant is not None and line.variant.sku in labelled, bundles
        )
        for line in quote.lines
    ]
    several = len(quote.lines) > 1 or any(line.quantity > 1 for line in quote.lines)
    if quote.order_promotion is not None:
        promo = quote.order_promotion
        parts.append(
            f"再享「{promo.name.zh}」减{shop.money(quote.order_discount)}，合计{shop.money(quote.total)}"
            if zh
            else f"the {promo.name.en} takes {shop.money(quote.order_discount)} off, so the total is {shop.money(quote.total)}"
        )
    elif several:
        parts.append(f"合计{shop.money(quote.total)}" if zh else f"total {shop.money(quote.total)}")
    parts += _promotion_news(quote, language)
    return ("；".join(parts) + "。") if zh else ("; ".join(parts) + ".")


def _restock(product: Product, variant: Variant) -> date | None:
    return product.restock_of(variant)


def stock_text(product: Product, asked: Sequence[Variant], today: date, language: Language) -> str:
    """Stock of the asked variants (all when none was asked), restock dates, and what else
    is in stock when the asked one is not."""
    zh = language == "zh"
    name = product_name(product, None, language)
    if product.status is ProductStatus.DISCONTINUED:
        return f"{name}已停售。" if zh else f"{name} is no longer sold."
    shown = list(asked) or list(product.variants)
    parts = [_variant_stock(product, v, today, language) for v in shown]
    text = (f"{name}：" + "；".join(parts)) if zh else (f"{name}: " + "; ".join(parts))
    others = [v for v in product.variants if v.stock and v not in shown]
    if asked and not any(v.stock for v in asked) and others:
        listing = ("、" if zh else ", ").join(
            f"{variant_label(product, v, language)}（库存{v.stock}件）"
            if zh
            else f"{variant_label(product, v, language)} ({v.stock} in stock)"
            for v in others
        )
        text += f"。其他有货款式：{listing}" if zh else f". In stock instead: {listing}"
    if product.total_stock == 0:
        text += "。该商品目前已售罄" if zh else ". It is sold out at the moment"
    return text + ("。" if zh else ".")


def _variant_stock(product: Product, variant: Variant, today: date, language: Language) -> str:
    zh = language == "zh"
    label = variant_label(product, variant, language)
    if variant.stock:
        state = f"有货，库存{variant.stock}件" if zh else f"{variant.stock} in stock"
    else:
        back = _restock(product, variant)
        if back is not None and back >= today:
            state = f"暂时缺货，预计{back}到货" if zh else f"out of stock, expected back on {back}"
        else:
            state = "暂时缺货" if zh else "out of stock"
    if not label:
        return state
    return f"{label}{state}" if zh else f"{label}: {state}"


def spec_text(product: Product, specs: Sequence[Spec], warranty: bool, language: Language) -> str:
    """The asked specifications (and warranty) of ``product``, values exactly as written."""
    zh = language == "zh"
    name = product_name(product, None, language)
    parts = [
        f"{s.label.get(language)}：{s.value.get(language)}"
        if zh
        else f"{s.label.get(language)}: {s.value.get(language)}"
        for s in specs
    ]
    if warranty and product.warranty is not None:
        parts.append(
            f"保修：{product.warranty.get(language)}"
            if zh
            else f"warranty: {product.warranty.get(language)}"
        )
    body = "；".join(parts) if zh else "; ".join(parts)
    return f"{name}：{body}。" if zh else f"{name}: {body}."


def promotion_state(promo: Promotion, today: date, language: Language) -> str:
    """Whether ``promo`` runs on ``today``, ended or is still to come, with its dates."""
    zh = language == "zh"
    if promo.is_active(today):
        return (
            f"「{promo.name.zh}」正在进行，{promo.starts}至{promo.ends}：{promo.description.zh}"
            if zh
            else f"The {promo.name.en} is running until {promo.ends} ({promo.starts} to {promo.ends}): {promo.description.en}"
        )
    if promo.has_ended(today):
        return (
            f"「{promo.name.zh}」已于{promo.ends}结束（{promo.starts}至{promo.ends}）。"
            if zh
            else f"The {promo.name.en} ended on {promo.ends} (it ran {promo.starts} to {promo.ends})."
        )
    return (
        f"「{promo.name.zh}」将于{promo.starts}开始，到{promo.ends}结束：{promo.description.zh}"
        if zh
        else f"The {promo.name.en} starts on {promo.starts} and runs until {promo.ends}: {promo.description.en}"
    )
