"""The shop's knowledge as documents: source ids, text split by language, quotes, profile."""

from __future__ import annotations

from core.knowledge.documents import body_for, documents_of, policy_document, quote_for
from core.knowledge.model import PolicySection
from tests.knowledge.shops import shop


def test_a_policy_section_is_one_document_split_by_language() -> None:
    section = PolicySection(
        "returns", "return-window", "Return window · 退货期限",
        "Unused items can be returned within 7 days.\n\n商品未使用，7天内可退货。",
    )  # fmt: skip
    document = policy_document(section)
    assert document.source == "policy:returns#return-window" and document.kind == "policy"
    assert "7天" in body_for(document, "zh") and "7 days" not in body_for(document, "zh")
    assert "7 days" in body_for(document, "en") and "7天" not in body_for(document, "en")


def test_every_item_of_a_shop_has_one_document_with_its_source() -> None:
    knowledge = shop("pets").knowledge
    sources = [d.source for d in documents_of(knowledge)]
    assert len(sources) == len(set(sources))
    assert {"catalog:PH-BED", "shop:contact", "shop:hours"} <= set(sources)
    assert any(s.startswith("promo:") for s in sources) and any(
        s.startswith("faq:") for s in sources
    )


def test_a_faq_is_quoted_by_its_answer_and_the_contact_details_by_their_listing() -> None:
    documents = {d.source: d for d in documents_of(shop("pets").knowledge)}
    faq = next(d for s, d in documents.items() if s.startswith("faq:"))
    assert quote_for(faq, "en") and quote_for(faq, "en") in faq.body.get("en")
    contact = documents["shop:contact"]
    assert "email" in contact.index_text and "address" in contact.index_text
