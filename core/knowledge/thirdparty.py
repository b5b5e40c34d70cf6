"""Questions about another person's order or details: only staff may answer those.

The order tools only ever look up the asking customer's own orders, so another person's data
is never disclosed. But "what did Emily Zhou order?" or "我朋友的快递到哪了" asks for
someone else's, and answering it with the asker's own orders is wrong and confusing: such a
question goes to a person, who can check who is asking.

What counts (either language): another person's order, parcel, address or phone, named by a
relation or pronoun ("my friend's order", "她的快递", "别人的订单") or by a capitalised name
("Emily Zhou's order", "what Emily ordered"). The customer's own words about a gift or a
recipient ("I ordered a gift for my friend") do not count: only the other person's belongings
and actions do.
"""

from __future__ import annotations

import re

_THINGS_EN = r"(?:orders?|package|parcel|address|phone(?: number)?|tracking(?: number)?)"
_RELATIONS_EN = (
    r"(?:friend|wife|husband|partner|boyfriend|girlfriend|mom|mum|mother|dad|father|sister|"
    r"brother|son|daughter|colleague|coworker|neighbou?r|roommate|flatmate|boss|"
    r"someone else|somebody else|another customer|other customer|other person|another person)"
)
_NAME = r"[A-Z][a-z]+(?: [A-Z][a-z]+)?"
_ACTIONS_EN = r"(?:ordered|bought|purchased|paid for|is getting|was sent)"
_EN = re.compile(
    rf"\b(?:my |our |his |her |their |a |the )?{_RELATIONS_EN}'s {_THINGS_EN}\b"
    rf"|\b(?:his|her|their) {_THINGS_EN}\b"
    rf"|\b{_THINGS_EN} (?:of|for|belonging to) (?:my |our )?{_RELATIONS_EN}\b"
    rf"|\bwhat (?:did )?(?:my |our |his |her )?{_RELATIONS_EN} (?:order|buy|purchase)"
    rf"|\bwhat (?:my |our )?{_RELATIONS_EN} {_ACTIONS_EN}",
    re.IGNORECASE,
)
# Capitalised names are matched case-sensitively: "what Emily ordered", "Emily Zhou's order".
_EN_NAMED = re.compile(
    rf"\b[Ww]hat (?:did )?(?P<a>{_NAME}) (?:{_ACTIONS_EN}|order|buy|purchase)\b"
    rf"|\b(?P<b>{_NAME})'s {_THINGS_EN}\b"
    rf"|\b(?:orders?|package|parcel|address|phone number) of (?P<c>{_NAME})\b"
)
_NOT_NAMES = frozenset({"I", "My", "What", "The", "This", "That", "Your", "You", "We", "Our",
                        "Where", "When", "Can", "Could", "Please", "Hi", "Hello", "Today",
                        "Yesterday", "Tomorrow", "Monday", "Tuesday", "Wednesday", "Thursday",
                        "Friday", "Saturday", "Sunday", "Christmas", "Last", "Next"})  # fmt: skip
_RELATIONS_ZH = (
    "他", "她", "别人", "其他人", "其他顾客", "其他客户", "另一个顾客", "另一位顾客", "朋友", "同事",
    "家人", "老公", "老婆", "丈夫", "妻子", "男朋友", "女朋友", "妈妈", "爸爸", "父母", "室友", "邻居",
    "儿子", "女儿", "姐姐", "妹妹", "哥哥", "弟弟",
)  # fmt: skip
# "其他的订单" is "my other orders": 他 after 其 is not a person.
_WHO_ZH = "|".join("(?<!其)他" if who == "他" else who for who in _RELATIONS_ZH)
_THINGS_ZH = ("订单", "快递", "包裹", "地址", "电话", "手机号", "物流", "单号", "收货信息")
_ZH = re.compile(
    rf"(?:{_WHO_ZH})(?:们)?的(?:{'|'.join(_THINGS_ZH)})"
    rf"|(?:{_WHO_ZH})(?:们)?(?:买了什么|下了什么单|订了什么|买的什么)"
)


def third_party_request(text: str) -> str | None:
    """The words asking about another person's order or details, or None."""
    for match in _EN.finditer(text):
        # "send it to my mother's address": the customer gives a destination, asks for nothing.
        if not text[: match.start()].lower().endswith(("to ", "at ")):
            return match.group(0)
    for match in _EN_NAMED.finditer(text):
        name = match.group("a") or match.group("b") or match.group("c") or ""
        if name.split()[0] not in _NOT_NAMES:
            return match.group(0)
    chinese = _ZH.search(text)
    return chinese.group(0) if chinese else None
