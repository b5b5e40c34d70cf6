"""Keyword cues that route a turn to a tool."""

from __future__ import annotations

import pytest

from core.knowledge.intents import detect_intents


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("防风夹克多少钱", "price"),
        ("轻薄羽绒服打几折？", "price"),
        ("How much is it?", "price"),
        ("帆布鞋42码有货吗", "stock"),
        ("有红色的吗", "stock"),
        ("Do you have it in size M?", "stock"),
        ("我的订单到哪了", "order_status"),
        ("Where is my order?", "order_status"),
        ("有什么优惠活动", "promotion"),
        ("Any promotions right now?", "promotion"),
        ("我想退货", "order_action"),
    ],
)
def test_cues(text: str, cue: str) -> None:
    assert getattr(detect_intents(text), cue) is True


def test_coupon_is_not_a_promotion_question() -> None:
    assert detect_intents("优惠券怎么用").promotion is False


@pytest.mark.parametrize(
    ("text", "quantity"),
    [("买两件多少钱", 2), ("3件", 3), ("buy three", 3), ("x 4", 4), ("多少钱", 1)],
)
def test_quantity(text: str, quantity: int) -> None:
    assert detect_intents(text).quantity == quantity


def test_greeting_and_thanks_are_whole_messages() -> None:
    assert detect_intents("你好！").greeting
    assert detect_intents("thanks!").thanks
    assert not detect_intents("你好，防风夹克多少钱").greeting


@pytest.mark.parametrize(
    "text",
    [
        "Do you still sell the travel mug?",
        "这款还卖吗",
        "蓝色的还有几支",
        "is it discontinued?",
        "do you carry hiking poles",
        "any left?",
        "灰色的枕套有吗",  # "X有吗": do you have X
        "you got the green one?",
    ],
)
def test_availability_questions_ask_about_stock(text: str) -> None:
    assert detect_intents(text).stock


def test_chat_spellings_of_do_you_have_ask_about_stock() -> None:
    assert detect_intents("do u have the blue one in 100ml").stock
    assert detect_intents("have you got any left in L?").stock


def test_until_which_day_is_not_where_is_my_parcel() -> None:
    assert not detect_intents("打折到哪天为止").order_status
    assert not detect_intents("活动持续到哪一天").order_status
    assert detect_intents("我的包裹到哪了").order_status


def test_chat_ways_of_asking_where_an_order_is() -> None:
    for text in ("wheres my parcel", "where's my stuff??", "where r my shoes", "hi, my purchase?"):
        assert detect_intents(text).order_status, text
    assert not detect_intents("where do you ship from").order_status


def test_is_there_a_deal_is_not_a_stock_question() -> None:
    for text in ("这个有没有优惠", "面膜有木有活动呀", "现在有没有折扣"):
        intents = detect_intents(text)
        assert intents.promotion and not intents.stock, text
    assert detect_intents("这个有没有货").stock


@pytest.mark.parametrize(
    ("text", "price"),
    [("how much weight can the shelf take?", False), ("how much is the shelf?", True)],
)
def test_how_much_of_a_quantity_is_not_a_price(text: str, price: bool) -> None:
    assert detect_intents(text).price is price


@pytest.mark.parametrize(
    ("text", "promotion"),
    [
        ("any offers on lamps this week?", True),
        ("is there an offer on the kettle", True),
        ("do you offer gift wrapping?", False),  # the verb
    ],
)
def test_offers_ask_about_promotions(text: str, promotion: bool) -> None:
    assert detect_intents(text).promotion is promotion
