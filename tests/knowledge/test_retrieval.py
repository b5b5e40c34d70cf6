"""BM25 retrieval over the demo shop, in Chinese and English, with "nothing relevant"."""

from __future__ import annotations

import pytest

from core.knowledge.base import KnowledgeBase
from core.knowledge.documents import Document, quote_for
from core.knowledge.retrieval import Retriever


@pytest.mark.parametrize(
    ("query", "source"),
    [
        ("退货运费谁出？", "policy:returns#return-shipping-fee"),
        ("你们有实体店吗", "faq:physical-store"),
        ("羽绒服跑绒保修吗", "policy:warranty#down-jackets"),
        ("支持信用卡吗", "faq:payment-methods"),
        ("退款多久到账", "policy:returns#refund-timing"),
        ("Do you ship to Singapore?", "policy:shipping#international-shipping"),
        ("Can I get an invoice?", "faq:invoice"),
        ("How do I use a coupon?", "faq:coupons"),
        ("Is there a discount on jackets?", "promo:WINTER-OUTERWEAR-2026"),
        ("防风夹克", "catalog:JK-3002"),
    ],
)
def test_top_hit(demo_base: KnowledgeBase, query: str, source: str) -> None:
    hits = demo_base.retriever.relevant(query)
    assert hits, f"nothing relevant for {query!r}"
    assert hits[0].document.source == source


@pytest.mark.parametrize(
    "query",
    [
        "Do you sell laptops?",
        "Can I pay with bitcoin?",
        "你们公司在招聘吗？",
        "What's the weather in Shanghai tomorrow?",
        "可以用花呗分期吗",
        "",
    ],
)
def test_nothing_relevant_is_detected(demo_base: KnowledgeBase, query: str) -> None:
    assert demo_base.retriever.relevant(query) == []


def test_relevant_hit_is_not_hidden_by_a_rare_shared_word(demo_base: KnowledgeBase) -> None:
    # "可以退" shares a rare bigram with the price-protection FAQ, which outscores the
    # socks policy without covering the question.
    hits = demo_base.retriever.relevant("袜子可以退吗")
    assert hits[0].document.source == "policy:returns#items-that-cannot-be-returned"


def test_policy_facts_are_split_by_language(demo_base: KnowledgeBase) -> None:
    hit = demo_base.retriever.relevant("退货运费谁出")[0]
    zh = hit.document.body.get("zh")
    en = hit.document.body.get("en")
    assert "顺丰12元" in zh and "SF Express" not in zh
    assert "¥12" in en and "顺丰" not in en.replace("(运费险)", "")


def test_faq_quote_is_the_answer_only(demo_base: KnowledgeBase) -> None:
    hit = demo_base.retriever.relevant("你们有实体店吗")[0]
    assert quote_for(hit.document, "zh").startswith("鹿米服饰目前只在线上销售")


def test_kinds_filter_and_scores_are_ordered() -> None:
    docs = [
        Document("faq:a", "faq", *(2 * [_loc("x")]), "shipping fee ten yuan"),
        Document("policy:b", "policy", *(2 * [_loc("y")]), "shipping shipping fee policy"),
    ]
    retriever = Retriever(docs)
    hits = retriever.search("shipping fee")
    assert [h.document.source for h in hits] == ["policy:b", "faq:a"] or hits[0].score >= hits[
        1
    ].score
    assert [
        h.document.source for h in retriever.search("shipping fee", kinds=frozenset({"faq"}))
    ] == ["faq:a"]


def _loc(text: str):  # type: ignore[no-untyped-def]
    from core.knowledge.model import Localized

    return Localized(text, text)


def test_the_shop_profile_is_retrievable_and_faq_paraphrases_count() -> None:
    from tests.knowledge.shops import shop

    retriever = shop("food").retriever
    assert retriever.relevant("客服几点下班")[0].document.source == "shop:hours"
    assert retriever.relevant("what's your phone number")[0].document.source == "shop:contact"
    top = retriever.relevant("do you take visa")[0].document.source
    assert top == "faq:payment-methods"  # a paraphrase written in faq.yaml


def test_aliases_and_paraphrases_are_searchable() -> None:
    from pathlib import Path

    from core.knowledge.loader import load_knowledge

    food = load_knowledge(Path(__file__).resolve().parents[2] / "bench/eval/shops/food/knowledge")
    retriever = Retriever.for_knowledge(food)
    assert retriever.relevant("dragon well")[0].document.source == "catalog:T-LJ"  # an alias
    assert retriever.relevant("冷泡茶节")[0].document.source == "promo:SUMMER-TEA-2026"
    assert retriever.relevant("do you take visa")[0].document.source == "faq:payment-methods"


def test_the_contact_details_answer_a_question_for_an_email_address() -> None:
    from tests.knowledge.shops import shop

    (best, *_) = shop("pets").retriever.search("what is your e-mail address", 2)
    assert best.document.source == "shop:contact"
