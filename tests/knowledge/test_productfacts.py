"""Product answers in the forms the evaluation's §12 names: prices with deals and totals,
stock counts, restock dates, specs as written, promotion states."""

from __future__ import annotations

from datetime import date

from core.knowledge.pricing import quote
from core.knowledge.productfacts import promotion_state, quote_text, spec_text, stock_text
from tests.knowledge.shops import shop

DAY = date(2026, 6, 20)


def _product(sku: str):  # type: ignore[no-untyped-def]
    product = shop("electronics").knowledge.product(sku)
    assert product is not None
    return product


def test_a_sale_price_with_a_running_deal_and_the_ended_sale() -> None:
    knowledge = shop("electronics").knowledge
    headphones = _product("STUDIOMAX-HEADPHONES")
    q = quote([(headphones, headphones.variants[0], 1)], knowledge.promotions, DAY)
    text = quote_text(q, knowledge.shop, "en")
    assert "¥799.00" in text and "¥719.10" in text  # sale price, then 10% off today
    assert "ended on 2026-06-18" in text and "starts on" not in text.split("ended")[0]


def test_zh_prices_state_the_discount_rate_and_the_total() -> None:
    knowledge = shop("electronics").knowledge
    buds = _product("AEROBUDS-PRO")
    q = quote([(buds, buds.variants[0], 2)], knowledge.promotions, DAY)
    text = quote_text(q, knowledge.shop, "zh")
    assert "9折" in text and "2件" in text and "合计¥718.20" in text


def test_stock_forms_and_restock_dates() -> None:
    buds = _product("AEROBUDS-PRO")
    white = [v for v in buds.variants if v.label.en == "White"]
    en = stock_text(buds, white, DAY, "en")
    zh = stock_text(buds, white, DAY, "zh")
    assert "out of stock, expected back on 2026-06-28" in en and "23 in stock" in en
    assert "暂时缺货，预计2026-06-28到货" in zh and "库存23件" in zh


def test_a_product_sold_out_everywhere_says_so() -> None:
    text = stock_text(_product("VOLTPACK-20000"), (), DAY, "en")
    assert "sold out" in text and "2026-07-05" in text


def test_specs_and_warranty_as_written() -> None:
    pebble = _product("PEBBLE-MINI-SPEAKER")
    spec = next(s for s in pebble.specs if s.key == "Battery capacity")
    text = spec_text(pebble, [spec], True, "zh")
    assert spec.value.en in text and "1-year warranty" in text  # English-only text kept


def test_promotion_states() -> None:
    promotions = {p.id: p for p in shop("electronics").knowledge.promotions}
    assert "ended on 2026-06-18" in promotion_state(promotions["618-SALE"], DAY, "en")
    assert "将于2026-08-20开始" in promotion_state(promotions["BACK-TO-SCHOOL-2026"], DAY, "zh")
    assert "running until 2026-06-30" in promotion_state(promotions["AUDIO-SUMMER"], DAY, "en")


def test_a_bundle_is_stated_once_at_its_own_price() -> None:
    knowledge = shop("food").knowledge
    gaiwan, jasmine = knowledge.product("TW-GAIWAN"), knowledge.product("T-JAS")
    assert gaiwan is not None and jasmine is not None
    q = quote([(gaiwan, None, 1), (jasmine, None, 1)], knowledge.promotions, date(2026, 9, 20))
    text = quote_text(q, knowledge.shop, "zh")
    assert text.count("组合价¥99.00") == 1 and "到手价" not in text  # not each item's share
