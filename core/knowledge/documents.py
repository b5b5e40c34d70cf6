"""The shop's knowledge as retrievable documents, one per item, each with a source id.

``faq:invoice``, ``policy:returns#return-window``, ``catalog:JK-3002``,
``promo:WINTER-OUTERWEAR-2026``, ``shop:hours``: answers cite where a fact came from and the
evaluation measures recall@k. :mod:`core.knowledge.retrieval` indexes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.knowledge.model import (
    FaqEntry,
    Knowledge,
    Localized,
    PolicySection,
    Product,
    Promotion,
    ShopInfo,
)
from core.texts import Language


@dataclass(frozen=True, slots=True)
class Document:
    """One retrievable item.

    Attributes:
        source: Stable id used for citations and recall@k.
        kind: ``product``, ``policy``, ``promotion`` or ``faq``.
        title: Short bilingual title.
        body: The fact text given to the model, per language.
        index_text: Everything that is searchable (both languages, tags).
    """

    source: str
    kind: str
    title: Localized
    body: Localized
    index_text: str
    quote: Localized | None = None  # what to send when quoted directly (a FAQ's answer)


def _mostly_chinese(paragraph: str) -> bool:
    letters = [ch for ch in paragraph if ch.isalpha()]
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in letters)
    return bool(letters) and cjk / len(letters) > 0.3


def _split_languages(text: str) -> Localized:
    """Policy paragraphs are written once per language; keep each language's paragraphs."""
    paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
    zh = [p for p in paragraphs if _mostly_chinese(p)]
    en = [p for p in paragraphs if p not in zh]
    return Localized("\n".join(zh) or text, "\n".join(en) or text)


def policy_document(section: PolicySection) -> Document:
    heading = Localized(section.heading, section.heading)
    return Document(
        section.source,
        "policy",
        heading,
        _split_languages(section.text),
        f"{section.heading}\n{section.text}",
    )


def faq_document(entry: FaqEntry) -> Document:
    body = Localized(
        f"{entry.question.zh} {entry.answer.zh}", f"{entry.question.en} {entry.answer.en}"
    )
    index = " ".join(
        [
            entry.question.zh,
            entry.question.en,
            entry.question.zh,
            entry.question.en,
            *entry.paraphrases,
            *entry.tags,
            *entry.paraphrases,
            entry.answer.zh,
            entry.answer.en,
        ]
    )
    return Document(entry.source, "faq", entry.question, body, index, entry.answer)


def product_document(product: Product) -> Document:
    sizes = " ".join(sorted({v.size for v in product.variants}))
    attributes = " ".join(f"{k} {v.zh} {v.en}" for k, v in product.attributes)
    body = Localized(
        f"{product.name.zh}（{product.sku}），{product.category_name.zh}，原价¥{product.price}。{product.description.zh}",
        f"{product.name.en} ({product.sku}), {product.category_name.en}, list price ¥{product.price}. {product.description.en}",
    )
    index = " ".join(
        [
            product.sku,
            product.name.zh,
            product.name.en,
            product.name.zh,
            product.name.en,
            product.category,
            product.category_name.zh,
            product.category_name.en,
            sizes,
            attributes,
            product.description.zh,
            product.description.en,
            *product.tags,
            *product.aliases,
        ]
    )
    return Document(product.source, "product", product.name, body, index)


def promotion_document(promo: Promotion, category_names: dict[str, Localized]) -> Document:
    applies = [
        category_names[c].zh + " " + category_names[c].en
        for c in sorted(promo.categories)
        if c in category_names
    ]
    dates = f"{promo.starts.isoformat()} – {promo.ends.isoformat()}"
    body = Localized(
        f"{promo.name.zh}：{promo.description.zh}（{dates}）",
        f"{promo.name.en}: {promo.description.en} ({dates})",
    )
    index = " ".join(
        [
            promo.name.zh,
            promo.name.en,
            promo.description.zh,
            promo.description.en,
            *applies,
            *promo.skus,
            *promo.aliases,
            "促销 优惠 活动 折扣 打折 promotion sale discount deal offer",
        ]
    )
    return Document(promo.source, "promotion", promo.name, body, index)


# General words customers use for opening hours and for contact details (any shop).
HOURS_WORDS = (
    "hours open opening online staff time when 几点 上班 下班 营业 在线 时间 工作时间 客服 人工"
)
CONTACT_WORDS = (
    "contact phone number call email mail address wechat customer service support hotline reach "
    "电话 号码 联系 联系方式 邮箱 地址 微信 客服 热线"
)


def shop_documents(shop: ShopInfo) -> list[Document]:
    """The shop profile as documents: opening hours (``shop:hours``) and contact details
    (``shop:contact``), each quoted as written."""
    docs = []
    if shop.hours is not None:
        docs.append(
            Document(
                "shop:hours",
                "faq",
                Localized("客服时间", "Opening hours"),
                shop.hours,
                f"{shop.hours.zh} {shop.hours.en} {HOURS_WORDS} {HOURS_WORDS}",
                shop.hours,
            )
        )
    if shop.contact:
        listing = Localized(
            "；".join(f"{kind}：{value}" for kind, value in shop.contact),
            "; ".join(f"{kind}: {value}" for kind, value in shop.contact),
        )
        kinds = " ".join(kind for kind, _ in shop.contact)
        docs.append(
            Document(
                "shop:contact",
                "faq",
                Localized("联系方式", "Contact"),
                listing,
                f"{listing.zh} {kinds} {CONTACT_WORDS} {CONTACT_WORDS}",
                listing,
            )
        )
    return docs


def documents_of(knowledge: Knowledge) -> list[Document]:
    """Every retrievable document of a knowledge folder."""
    categories = {p.category: p.category_name for p in knowledge.products}
    docs = [policy_document(s) for s in knowledge.policies]
    docs += shop_documents(knowledge.shop)
    docs += [faq_document(f) for f in knowledge.faq]
    docs += [product_document(p) for p in knowledge.products]
    docs += [promotion_document(p, categories) for p in knowledge.promotions]
    return docs


def body_for(document: Document, language: Language) -> str:
    """The fact text of ``document`` in ``language``."""
    return document.body.get(language)


def quote_for(document: Document, language: Language) -> str:
    """What to send when ``document`` is quoted as the answer (a FAQ's answer, else its body)."""
    return (document.quote or document.body).get(language).strip()
