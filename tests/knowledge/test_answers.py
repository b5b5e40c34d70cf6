"""Templated sentences: bilingual, exact money and ISO dates."""

from __future__ import annotations

from datetime import date

import pytest

from core.knowledge.answers import (
    item_size,
    order_fact,
    price_fact,
    promotion_fact,
    stock_fact,
)
from core.knowledge.pricing import quote

TODAY = date(2026, 11, 21)


def _order(k, number: str):  # type: ignore[no-untyped-def]
    return next(o for o in k.orders if o.order_no == number)


def test_shipped_order_in_both_languages(demo_knowledge) -> None:
    order = _order(demo_knowledge, "SO20261118-0107")
    zh = order_fact(order, demo_knowledge.shop, "zh")
    en = order_fact(order, demo_knowledge.shop, "en")
    for text in (zh, en):
        assert (
            "SO20261118-0107" in text
            and "SF1418827364509" in text
            and "2026-11-22" in text
            and "¥399.00" in text
        )
    assert "顺丰速运" in zh and "已发货" in zh
    assert "SF Express" in en and "shipped on 2026-11-19" in en


def test_unshipped_order_has_no_tracking(demo_knowledge) -> None:
    text = order_fact(_order(demo_knowledge, "SO20261120-0215"), demo_knowledge.shop, "en")
    assert "paid, not yet shipped" in text and "tracking" not in text


def test_price_sentence_names_the_promotion_and_its_dates(demo_knowledge) -> None:
    q = quote([(demo_knowledge.product("JK-3002"), 1)], demo_knowledge.promotions, TODAY)
    zh = price_fact(q, demo_knowledge.shop, "zh")
    assert "原价¥299.00" in zh and "8折" in zh and "到手价¥239.20" in zh and "2026-11-30" in zh
    en = price_fact(q, demo_knowledge.shop, "en")
    assert "¥239.20 today" in en and "Black Friday Deal starts on 2026-11-27" in en


def test_expired_promotion_is_said_to_have_ended(demo_knowledge) -> None:
    q = quote([(demo_knowledge.product("SN-5002"), 1)], demo_knowledge.promotions, TODAY)
    text = price_fact(q, demo_knowledge.shop, "en")
    assert "¥459.00" in text and "ended on 2026-10-07" in text and "321.30" not in text


def test_stock_of_asked_size_and_alternatives(demo_knowledge) -> None:
    shoes = demo_knowledge.product("SN-5001")
    zh = stock_fact(shoes, ["42"], [], "zh")
    assert zh.startswith("经典帆布鞋（SN-5001）：42码暂时缺货") and "41码" in zh
    en = stock_fact(demo_knowledge.product("KN-1201"), ["M"], [], "en")
    assert "size M (charcoal): 10 in stock" in en


def test_sold_out_everywhere(demo_knowledge) -> None:
    assert "sold out in every size" in stock_fact(demo_knowledge.product("ST-2201"), [], [], "en")


def test_size_that_does_not_exist(demo_knowledge) -> None:
    assert "does not come in XXL" in stock_fact(
        demo_knowledge.product("JK-3002"), ["XXL"], [], "en"
    )


def test_promotion_state_on_today(demo_knowledge) -> None:
    states = [
        promotion_fact(p, demo_knowledge.shop, "en", TODAY) for p in demo_knowledge.promotions
    ]
    assert (
        "(ended," in states[0] and "(running now," in states[1] and "(not started yet," in states[2]
    )


def test_a_spend_threshold_with_tiers_is_stated_in_full() -> None:
    from pathlib import Path

    from core.knowledge.loader import load_knowledge
    from core.knowledge.pricing import quote_skus

    food = load_knowledge(Path(__file__).resolve().parents[2] / "bench/eval/shops/food/knowledge")
    q = quote_skus(food, [("T-PE357", 2)], date(2026, 9, 20))
    zh = price_fact(q, food.shop, "zh")
    assert "满¥199.00减¥20.00，满¥399.00减¥60.00" in zh and "¥376.00" in zh
    en = price_fact(q, food.shop, "en")
    assert "takes ¥20.00 off" in en and "¥376.00" in en


@pytest.mark.parametrize(
    ("size", "zh", "en"),
    [
        ("XL", " XL码", " size XL"),
        ("41", " 41码", " size 41"),
        ("250 ml", " 250 ml", " 250 ml"),
        ("matte finish", " matte finish", " matte finish"),
        ("ONE", "", ""),
    ],
)
def test_only_garment_sizes_are_called_sizes(size: str, zh: str, en: str) -> None:
    assert item_size(size, "zh") == zh and item_size(size, "en") == en
