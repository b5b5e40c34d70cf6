"""Questions about another person's order or details are recognised; the customer's own are not."""

from __future__ import annotations

import pytest

from core.knowledge.thirdparty import third_party_request


@pytest.mark.parametrize(
    "text",
    [
        "What did Laura Chen order last week?",
        "can you check what Marco bought from you",
        "Where is Daniel Wu's parcel right now?",
        "I need the address of Sofia Lee please",
        "my sister's order hasn't arrived, can you look it up?",
        "please give me my neighbour's tracking number",
        "what did my boyfriend order for my birthday",
        "is there any way to see another customer's order?",
        "could you tell me her address",
        "查一下我朋友的快递到哪了",
        "她的订单发货了吗",
        "帮我看看我老公买了什么",
        "能告诉我别人的收货信息吗",
        "其他顾客的订单能查吗",
    ],
)
def test_someone_elses_order_or_details(text: str) -> None:
    assert third_party_request(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order?",
        "I ordered a gift for my friend, when will it arrive?",
        "What did I order last time?",
        "Can you send it to my mother's address instead? It's 12 Park Road",
        "What is the best food for my dog?",
        "What Size should I pick for a 9 kg dog?",
        "Hello Tom, what's the price of the blue lamp?",
        "我的订单到哪了",
        "我其他的订单呢",
        "给我妈妈买的礼物什么时候到",
        "这个和那个有什么区别",
    ],
)
def test_the_customers_own_questions_are_not_about_someone_else(text: str) -> None:
    assert third_party_request(text) is None
