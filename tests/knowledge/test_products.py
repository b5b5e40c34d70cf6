"""Product questions answered together: several products in one quote with the total,
counts next to each product, options, stock with restock dates, specs, follow-ups."""

from __future__ import annotations

from datetime import date

from core.knowledge.intents import detect_intents
from core.knowledge.model import Identity
from core.knowledge.orders import Asker
from core.knowledge.tools import ShopTools, ToolOutcome, ToolRequest, named_promotions
from core.model.turn import Role
from core.texts import detect_language
from tests.knowledge.shops import shop

DAYS = {
    "electronics": date(2026, 6, 20),
    "food": date(2026, 9, 20),
    "demo": date(2026, 11, 21),
    "pets": date(2026, 12, 16),
    "baby": date(2026, 12, 20),
}


async def ask(name: str, text: str, history: tuple[str, ...] = ()) -> ToolOutcome:
    request = ToolRequest(
        text,
        "",
        detect_intents(text),
        Asker(Identity("telegram", "9999"), Role.CUSTOMER),
        detect_language(text),
        DAYS[name],
        history=history,
    )
    return await ShopTools(shop(name)).run(request)


async def test_two_products_are_priced_together_with_the_total() -> None:
    outcome = await ask("food", "How much are the gaiwan and the jasmine tea together?")
    assert outcome.reply is not None
    # The starter bundle prices the pair at ¥99.00 (¥68 + ¥58 bought alone).
    assert "¥99.00" in outcome.reply and "total" in outcome.reply
    assert [f.source for f in outcome.facts] == ["price:TW-GAIWAN+T-JAS"]


async def test_each_product_gets_its_own_count() -> None:
    outcome = await ask("electronics", "2 VoltPack 10000 and one 1 m BraidLink cable, total?")
    assert outcome.reply is not None
    # ¥20 off each power bank: 2 × ¥129.00; the cable ¥49.00 (its multi-buy needs 2 cables).
    assert "¥307.00" in outcome.reply


async def test_chinese_numerals_count() -> None:
    outcome = await ask("food", "核桃仁买三包多少钱")
    assert outcome.reply is not None and "3件" in outcome.reply
    assert "¥90.00" in outcome.reply  # buy 3 pay 2: 2 × ¥45.00


async def test_an_option_named_after_a_product_is_an_option() -> None:
    outcome = await ask("food", "three boxes of the snow-skin mooncakes, mango, how much")
    assert outcome.reply is not None and "SN-MANGO" not in outcome.reply
    assert "MC-SNOW" in outcome.reply and "mango" in outcome.reply


async def test_stock_of_the_asked_variant_with_its_restock_date() -> None:
    outcome = await ask("food", "龙井250克还有货吗")
    assert outcome.reply is not None
    assert "暂时缺货" in outcome.reply and "2026-10-08" in outcome.reply
    assert "库存40件" in outcome.reply  # what is in stock instead


async def test_a_spec_is_answered_as_written() -> None:
    outcome = await ask("electronics", "what is the battery capacity of the pebble speaker")
    assert outcome.reply is not None and "2000mAh" in outcome.reply.replace(" ", "")


async def test_warranty_without_a_product_warranty_is_left_to_the_policy() -> None:
    outcome = await ask("demo", "How long is the warranty on the running shoes?")
    assert outcome.reply is None


async def test_a_follow_up_is_about_the_product_last_discussed() -> None:
    history = ("How much is the 100 g white peony tea?",)
    outcome = await ask("food", "and the 200 g one?", history)
    assert outcome.reply is not None and "¥188.00" in outcome.reply


async def test_a_follow_up_count_reprices_the_product() -> None:
    outcome = await ask("electronics", "那买三个多少钱", ("Pebble蓝牙音箱防水吗？",))
    assert outcome.reply is not None and "¥672.30" in outcome.reply  # 3 × ¥249 less 10%


async def test_an_ended_promotion_is_said_to_have_ended() -> None:
    outcome = await ask("electronics", "is the 618 sale still on")
    assert outcome.reply is not None and "ended on 2026-06-18" in outcome.reply


def test_promotions_are_named_by_alias_in_either_language() -> None:
    promotions = shop("food").knowledge.promotions
    assert [p.id for p in named_promotions(promotions, "月饼早鸟价还有吗")] == ["MOONCAKE-EARLY"]
    assert named_promotions(promotions, "hello there") == []


async def test_an_undated_gap_adds_the_shops_restocking_note() -> None:
    outcome = await ask("demo", "加绒连帽卫衣M码有货吗")
    assert outcome.reply is not None and "暂时缺货" in outcome.reply
    assert "faq:restock" in [f.source for f in outcome.facts]
    dated = await ask("food", "龙井250克还有货吗")  # a restock date: no general note
    assert all(not f.source.startswith("faq:") for f in dated.facts)


async def test_and_in_size_l_is_about_the_jacket_just_asked_about() -> None:
    history = ("Is the lightweight down jacket in stock in M?",)
    outcome = await ask("demo", "and in size L?", history)
    assert outcome.reply is not None and "JK-3001" in outcome.reply
    assert "L" in outcome.reply and "10 in stock" in outcome.reply  # L / black: 10


async def test_counting_a_feature_is_not_a_stock_question() -> None:
    zh = await ask("electronics", "1万毫安的移动电源一共几个接口")
    assert zh.reply is not None and "1 × USB-C, 1 × USB-A" in zh.reply and "库存" not in zh.reply
    en = await ask("electronics", "how many ports does the volt pack power bank have")
    assert en.reply is not None and "1 × USB-C" in en.reply and "in stock" not in en.reply
    stock = await ask("electronics", "移动电源白色还有几个")  # a count of the stock
    assert stock.reply is not None and "库存" in stock.reply


async def test_a_short_spec_question_is_about_the_product_just_named() -> None:
    history = ("Tell me about the 10000mAh volt pack",)
    outcome = await ask("electronics", "what's the weight of it?", history)
    assert outcome.reply is not None and "198 g" in outcome.reply
    zh = await ask("electronics", "充电要多久", ("1万毫安充电宝多少钱",))
    assert zh.reply is not None and "3 h" in zh.reply and "¥" not in zh.reply


async def test_values_of_one_product_with_counts_of_their_own_are_separate_lines() -> None:
    outcome = await ask("food", "Crispy seaweed: 2 of the original and 3 spicy, what's the total?")
    assert outcome.reply is not None
    assert "original is ¥12.00, × 2" in outcome.reply and "× 3" in outcome.reply
    assert "total ¥48.00" in outcome.reply  # five snacks: the 3-for-2 frees one


async def test_values_asked_as_alternatives_are_not_added_up() -> None:
    outcome = await ask("food", "海苔脆片原味还是香辣的多少钱")
    assert outcome.reply is not None and "合计" not in outcome.reply


async def test_a_warranty_follow_up_pointing_back_is_about_the_last_product() -> None:
    outcome = await ask(
        "pets", "and is there some kind of warranty on it at all?", ("how much is the leash",)
    )
    assert outcome.reply is not None and "6-month warranty" in outcome.reply


async def test_an_option_follow_up_keeps_the_other_options_chosen_before() -> None:
    outcome = await ask("electronics", "那14寸的呢", ("电脑内胆包13寸藏青色有货吗",))
    assert outcome.reply is not None
    assert "14-inch码 / 藏青" in outcome.reply and "Grey" not in outcome.reply


async def test_a_loose_catalog_match_loses_to_the_product_just_discussed() -> None:
    outcome = await ask("food", "那250克的呢", ("铁观音100克多少钱",))
    assert outcome.reply is not None and "T-TGY" in outcome.reply and "250 g" in outcome.reply


async def test_a_product_named_only_by_two_of_its_options() -> None:
    outcome = await ask("baby", "S码120片的还有没有")
    assert outcome.reply is not None and "BB-NAPPY" in outcome.reply
    assert (await ask("baby", "M码的还有吗")).reply is None  # one option: many products have M


async def test_two_values_asked_together_are_priced_as_two_lines() -> None:
    outcome = await ask("food", "the original and the spicy crispy seaweed, how much together?")
    assert outcome.reply is not None and "total ¥24.00" in outcome.reply
