"""The tools: orders (bound to the asker), prices, stock and promotions, as facts and replies."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from core.knowledge.base import KnowledgeBase
from core.knowledge.intents import detect_intents
from core.knowledge.model import Identity
from core.knowledge.orders import Asker
from core.knowledge.tools import ShopTools, ToolOutcome, ToolRequest
from core.model.turn import Role
from tests.knowledge.shops import shop

TODAY = date(2026, 11, 21)


def _request(
    text: str,
    *,
    user: str = "1001",
    ocr: str = "",
    language: str = "zh",
    images: bool = False,
    role: Role = Role.CUSTOMER,
) -> ToolRequest:
    asker = Asker(Identity("telegram", user), role)
    return ToolRequest(text, ocr, detect_intents(text), asker, language, TODAY, images)  # type: ignore[arg-type]


@pytest.fixture
def tools(demo_base: KnowledgeBase) -> ShopTools:
    return ShopTools(demo_base)


async def test_own_order_is_answered(tools: ShopTools) -> None:
    outcome = await tools.run(_request("我的订单SO20261118-0107到哪了"))
    assert outcome.handoff is None
    assert outcome.reply is not None and "SF1418827364509" in outcome.reply
    assert [f.source for f in outcome.facts] == ["order:SO20261118-0107"]


async def test_other_customers_order_reveals_nothing(tools: ShopTools) -> None:
    foreign = await tools.run(_request("SO20261025-0318 到哪了"))  # Anna's order, asked by Li
    unknown = await tools.run(_request("SO20991231-0001 到哪了"))
    for outcome in (foreign, unknown):
        assert outcome.reply is None and outcome.facts == ()
        assert outcome.handoff is not None and outcome.handoff.kind == "order_not_found"
    assert "JDV004417782301" not in str(foreign) and "Leather Backpack" not in str(foreign)


async def test_staff_may_look_up_any_order(tools: ShopTools) -> None:
    outcome = await tools.run(_request("SO20261025-0318", role=Role.STAFF, user="U1"))
    assert outcome.reply is not None and "JDV004417782301" in outcome.reply


async def test_order_number_from_the_screenshot(tools: ShopTools) -> None:
    outcome = await tools.run(
        _request(
            "这个订单什么时候到",
            ocr="订单详情\nOrderNo.:SO20261118-0107\n实付款:¥399.00",
            images=True,
        )
    )
    assert outcome.reply is not None and "2026-11-22" in outcome.reply


async def test_mixed_own_and_foreign_numbers(tools: ShopTools) -> None:
    outcome = await tools.run(_request("SO20261118-0107 和 SO20261025-0318", language="zh"))
    assert outcome.reply is not None
    assert "SF1418827364509" in outcome.reply and "JDV004417782301" not in outcome.reply
    assert "没有找到订单SO20261025-0318" in outcome.reply


async def test_where_is_my_order_without_a_number(tools: ShopTools) -> None:
    outcome = await tools.run(_request("Where is my order?", language="en"))
    assert outcome.reply is not None and outcome.reply.startswith(
        "The recent orders on your account"
    )
    assert {f.source for f in outcome.facts} == {"order:SO20261120-0215", "order:SO20261118-0107"}
    nobody = await tools.run(_request("Where is my order?", user="4040", language="en"))
    assert nobody.reply is not None and "for example SO20261102-0042" in nobody.reply
    assert [f.source for f in nobody.facts] == ["shop:order-number-example"]


async def test_return_question_about_an_order_adds_the_policy(tools: ShopTools) -> None:
    outcome = await tools.run(_request("I want to return order SO20261102-0042", language="en"))
    assert outcome.reply is not None
    assert any(f.source.startswith("policy:returns") for f in outcome.facts)


async def test_price_with_promotion(tools: ShopTools) -> None:
    outcome = await tools.run(_request("防风夹克多少钱"))
    assert outcome.reply is not None and "¥239.20" in outcome.reply
    assert outcome.facts[0].source == "price:JK-3002"


async def test_asking_for_a_deal_on_a_product_gets_its_price_with_the_deal(
    tools: ShopTools,
) -> None:
    outcome = await tools.run(_request("防风夹克有优惠吗"))
    assert outcome.reply is not None and "¥239.20" in outcome.reply


async def test_price_from_a_tag_photo(tools: ShopTools) -> None:
    outcome = await tools.run(_request("", ocr="防风夹克\nJK-3002\n¥299.00", images=True))
    assert outcome.reply is not None and "¥239.20" in outcome.reply and "库存" in outcome.reply


async def test_stock_with_size_from_the_label(tools: ShopTools) -> None:
    outcome = await tools.run(_request("这双还有吗", ocr="SKU: SN-5001\n尺码Size:42", images=True))
    assert outcome.reply is not None and "42码暂时缺货" in outcome.reply


async def test_promotions_overview(tools: ShopTools) -> None:
    outcome = await tools.run(_request("有什么优惠活动"))
    assert outcome.reply is not None
    assert (
        "冬季外套节" in outcome.reply
        and "黑五满减" in outcome.reply
        and "国庆" not in outcome.reply
    )


async def test_open_question_about_a_product_is_left_to_retrieval(tools: ShopTools) -> None:
    outcome = await tools.run(_request("Is the windbreaker warm?", language="en"))
    assert outcome.reply is None and outcome.facts == () and outcome.handoff is None


async def test_a_promotion_described_without_its_name_is_answered_with_its_dates(
    tools: ShopTools,
) -> None:
    en = await tools.run(_request("when does the winter event for outerwear finish", language="en"))
    assert [f.source for f in en.facts] == ["promo:WINTER-OUTERWEAR-2026"]
    assert en.reply is not None and "2026-11-30" in en.reply
    zh = await tools.run(_request("外套的那个活动哪天结束"))  # "到哪天" is not "where is it"
    assert zh.reply is not None and "2026-11-30" in zh.reply and "订单" not in zh.reply


async def test_a_vague_deal_question_still_lists_every_promotion(tools: ShopTools) -> None:
    outcome = await tools.run(_request("any deals at the moment?", language="en"))
    assert outcome.reply is not None and outcome.reply.startswith("As of 2026-11-21")


async def test_is_it_too_late_to_return_an_order_gets_the_return_window(tools: ShopTools) -> None:
    en = await tools.run(_request("is it too late to return SO20261102-0042?", language="en"))
    assert en.reply is not None and "within 7 days of delivery" in en.reply
    zh = await tools.run(_request("SO20261102-0042现在还能退货吗"))
    assert zh.reply is not None and "7天" in zh.reply


async def test_an_order_question_adds_no_passage_that_only_shares_the_word_order() -> None:
    food = ShopTools(shop("food"))
    request = _request("WX-2026-000876 这单取消掉了没有", user="3005")
    outcome = await food.run(replace(request, today=date(2026, 9, 20)))
    assert outcome.reply is not None and "已取消" in outcome.reply
    assert [f.source for f in outcome.facts] == ["order:WX-2026-000876"]


async def _ask_pets(text: str, user: str = "6001") -> ToolOutcome:
    """``text`` from a pets-shop customer on the shop's evaluation date."""
    request = replace(_request(text, user=user), today=date(2026, 12, 16))
    return await ShopTools(shop("pets")).run(request)


async def test_has_the_product_i_bought_shipped_finds_that_order() -> None:
    outcome = await _ask_pets("has the salmon dog food I bought arrived?")
    assert outcome.reply is not None
    assert "PAW1128-203" in outcome.reply and "PAW1214-118" not in outcome.reply


async def test_an_order_of_a_product_the_asker_has_is_their_order_not_the_price() -> None:
    outcome = await _ask_pets("我下的三文鱼狗粮那单多少钱来着")
    assert outcome.reply is not None and "PAW1128-203" in outcome.reply
    priced = await _ask_pets("我下的三文鱼狗粮那单多少钱来着", user="6999")  # no such order
    assert priced.reply is not None and "PAW" not in priced.reply


@pytest.mark.parametrize("text", ["what would I pay for the leash?", "牵引绳要付多少"])
def test_what_would_i_pay_asks_a_price(text: str) -> None:
    assert detect_intents(text).price
