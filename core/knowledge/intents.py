"""What a customer message asks for, from keywords (Chinese and English).

These are cheap, explainable cues that route a turn to a tool (orders, prices, stock,
promotions) or to a fixed reply (greetings, thanks). Open questions go to retrieval and
the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.knowledge.textproc import normalise

PRICE = re.compile(
    r"多少钱|这个价|什么价|价吗|一共多少|总共多少|合计|价格|价钱|售价|什么价|啥价|价位|几块|多少元|贵不贵|便宜|打折|折扣|几折|\d(?:\.\d)?折|到手价|优惠价|现价|原价|"
    r"\b(?:what|how much) (?:would|will|do|does|should|shall) (?:i|we) (?:pay|be paying)\b|要付多少|付多少|"
    r"\bprice[sd]?\b|\bcosts?\b|how much(?! (?:weight|water|food|load|space|room|power|noise|does it (?:weigh|hold)|can it))|\bdiscount|on sale|\bcheaper\b|\btotal\b"
)
STOCK = re.compile(
    r"有货|有没有(?!.{0,2}(?:优惠|活动|折扣|打折|促销|券|赠品))|还有货|还有.{1,6}[吗么]|有.{0,4}色的?吗|什么颜色|颜色|\bcolou?rs?\b|还有吗|还有没有|还剩|库存|缺货|断码|售罄|卖完|有.{0,4}[码号]|[码号]有吗|尺码|\bin stock\b|\bavailab|\bsold out\b|"
    r"do you have|\bdo (?:u|ya) have\b|have you got|\byou got (?:the|any|a|some)\b|有吗|有嘛|\bgot any\b|\bhave it in\b|\bcome in\b|\bsizes?\b|\bstock\b|\bleft\b|"
    r"到货|补货|什么时候有|还有多少|还剩多少|几盒|几件|几[支瓶个双条套罐袋包]|还卖|还在卖|停售|下架|有卖|"
    r"restock|back in stock|\bsold out\b|still (?:sell|make|carry|stock)|do you (?:sell|carry)|"
    r"discontinued|\bany (?:more )?left\b"
)
ORDER_STATUS = re.compile(
    r"订单.{0,6}(状态|到哪|怎么样|发货|物流)|物流|快递|到哪(?![天日号一个])|发货了[吗没]|什么时候[到发]|单号|签收|包裹|我的订单|"
    r"\bwhere(?:'?s| is| are| r)? my\b|\bmy (?:stuff|purchase|things)\b|\btrack|status of my|my orders?\b|\bshipped\b|\bparcel\b|\bpackage\b|when will .{0,20}arrive|delivery status|"
    r"\b(?:has|have|did)\b.{0,30}\b(?:i|we) (?:bought|ordered|got)\b.{0,12}\b(?:arrived?|shipped|ship|been sent|dispatched)\b|"
    r"我买的.{0,12}(?:发货|到了|寄出)|(?:那|这)一?单|我的单|我下的.{0,10}单|刚下的.{0,10}单"
)
PROMOTION = re.compile(
    r"优惠活动|促销|活动|满减|打折|折扣|有什么优惠|有优惠|优惠吗|黑五|双十一|\bsales?\b|\bpromotions?\b|"
    r"\bdiscounts?\b|\bdeals?\b|black friday|\boffers\b|\bany offers?\b|\bspecial offers?\b|\boffers? on\b"
)
# Questions that ask the shop to DO something about an order (answered with policy facts).
ORDER_ACTION = re.compile(
    r"退货|换货|退款|取消|改地址|修改地址|发票|\breturn|\bexchange|\brefund|\bcancel|\binvoice|\baddress"
)
GREETING = re.compile(
    r"^(你好|您好|在吗|在不在|hi|hello|hey|good (morning|afternoon|evening)|哈喽|嗨)[\s!！。.,，~]*$"
)
THANKS = re.compile(
    r"^(谢谢|多谢|感谢|好的|好的谢谢|知道了|明白了|ok|okay|thanks|thank you|thx|great|got it)[\s!！。.,，~]*(谢谢|thanks|thank you)?[\s!！。.,，~]*$"
)
_ZH_NUMBERS = {
    "一": 1,
    "两": 2,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
QUANTITY = re.compile(
    r"(\d{1,3}|[一两二三四五六七八九十])\s*(?:件|双|个|条|顶|套|pcs\b|pieces\b|pairs?\b)|\bbuy\s+(\d{1,3}|two|three|four|five)\b|[x×]\s*(\d{1,3})\b"
)
_EN_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5}


@dataclass(frozen=True, slots=True)
class Intents:
    """Cues found in one message."""

    price: bool = False
    stock: bool = False
    order_status: bool = False
    promotion: bool = False
    greeting: bool = False
    thanks: bool = False
    order_action: bool = False
    quantity: int = 1


def _quantity(text: str) -> int:
    match = QUANTITY.search(text)
    if match is None:
        return 1
    raw = next(g for g in match.groups() if g)
    value = _ZH_NUMBERS.get(raw) or _EN_NUMBERS.get(raw) or (int(raw) if raw.isdigit() else 1)
    return max(1, min(value, 99))


def detect_intents(text: str) -> Intents:
    """Keyword cues of ``text`` (NFKC, lowercase)."""
    lowered = normalise(text).strip()
    return Intents(
        price=bool(PRICE.search(lowered)),
        stock=bool(STOCK.search(lowered)),
        order_status=bool(ORDER_STATUS.search(lowered)),
        promotion=bool(PROMOTION.search(lowered)),
        greeting=bool(GREETING.match(lowered)),
        thanks=bool(THANKS.match(lowered)),
        order_action=bool(ORDER_ACTION.search(lowered)),
        quantity=_quantity(lowered),
    )
