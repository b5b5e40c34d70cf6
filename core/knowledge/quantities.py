"""How many: quantities in digits, English words and Chinese numerals.

"3 Zephyr bottles", "three of the 1 m cables", "买两个", "二十个", "x3", "a pair of" are
quantities; "10000mAh", "65W", "1 m", "100 g", "¥299", "size 42" are not (a number followed
by a unit, a price or a size describes the product, not how many). Every mention keeps its
place in the text (of :func:`~core.knowledge.textproc.normalise`'s output), so a message
naming several products gives each product the quantity written next to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.knowledge.textproc import normalise

MAX_QUANTITY = 99
EN_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fifteen": 15, "twenty": 20, "couple": 2, "pair": 2, "dozen": 12,
}  # fmt: skip
ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
             "七": 7, "八": 8, "九": 9}  # fmt: skip
ZH_NUMERAL = "[零一二两俩三四五六七八九十百]+"
# Chinese measure words: a numeral before one of these counts things.
CLASSIFIERS = "个件双条根盒罐袋包瓶只台套顶把支张份斤箱组副块枚款桶"
# After a number, these make it a measurement, not a count.
UNITS = (
    r"mah|wh|w|v|a|gb|tb|mb|g|kg|mg|m|cm|mm|km|ml|l|litres?|liters?|millilitres?|milliliters?|"
    r"in|inch|inches|ft|hz|ghz|mhz|db|"
    r"h|hr|hrs|hours?|mins?|minutes?|days?|years?|months?|°c?|℃|%|x\d|k|p|mp|"
    r"万|千|百|毫安|瓦|克|千克|公斤|米|厘米|毫米|毫升|升|寸|英寸|小时|分钟|天|年|月|度|码|号|元|块钱|折|季|"
    r"[片枚支粒袋包盒瓶罐个只]?装|[件个]套|-?pack\b|-?piece set"
)
VERBS_BEFORE = (
    r"(?:buy|buying|order|ordering|get|getting|take|need|want|like|买|要|来|拿|订|购买|下单)"
)
_ZH_COUNT = re.compile(
    rf"({ZH_NUMERAL}|\d{{1,2}})\s*(?:[{CLASSIFIERS}])(?![装套月])"
)  # "6瓶装", "5件套": a pack
_TIMES = re.compile(r"(?:[x×*]\s*(\d{1,2})|(\d{1,2})\s*[x×])(?![\w.])")
_EN_WORD = re.compile(
    r"(?<![\w'])("
    + "|".join(sorted(EN_NUMBERS, key=len, reverse=True))
    + r")(?:\s+of)?\b(?!\s*(?:"
    + UNITS
    + r")\b)"
)
# "5-sheet", "3-piece": a number joined to a word describes the product.
_DIGITS = re.compile(
    r"(?<![\w.,¥$€£#~–-])(\d{1,2})(?![\d.,:/])(?!-[a-z])(?!\s*[-–~至到]\s*\d)"
    r"(?!\s*(?:" + UNITS + r")(?![a-z]))"
)
# "ten boxes of the ...", "two of the ...": a number before "(container) of the" counts
# what follows.
_EN_COUNTED = re.compile(
    r"(?<![\w'-])(\d{1,2}|"
    + "|".join(sorted((w for w in EN_NUMBERS if w not in ("a", "an")), key=len, reverse=True))
    + r")\s+(?:(?:boxes|bottles|packs|packets|tubes|jars|pieces|units|sets|pairs|bags|cans|"
    r"cartons|tins|cases)\s+)?of\s+(?:the|these|those|them|your|this|that)\b"
)
# A number after these is a size, a model or a reference, not a count.
_LABEL_BEFORE = re.compile(
    r"(?:size|no\.?|number|model|#|尺码|码数|鞋码|型号|编号|version|gen)\s*$"
)
_VERB_NUMBER = re.compile(VERBS_BEFORE + rf"\s*(\d{{1,2}}|{ZH_NUMERAL}|[a-z]+)")


@dataclass(frozen=True, slots=True)
class Quantity:
    """A count in the text: its value, its span, and whether a classifier, a verb or a
    multiplication sign marks it as a count (``strong``) or it is a bare number before a
    noun (weak: it only counts when a product is named right after it)."""

    value: int
    start: int
    end: int
    strong: bool
    suffix: bool = False  # "×3" counts what comes before it


def zh_number(numeral: str) -> int | None:
    """一 -> 1, 两 -> 2, 十二 -> 12, 二十三 -> 23, 一百 -> 100; None when it is not one."""
    if not numeral or any(ch not in ZH_DIGITS and ch not in "十百" for ch in numeral):
        return None
    total, current = 0, 0
    for ch in numeral:
        if ch in ZH_DIGITS:
            current = ZH_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        else:  # 百
            total += (current or 1) * 100
            current = 0
    return total + current


def read_number(word: str) -> int | None:
    """A count written as digits, an English word or Chinese numerals; None otherwise."""
    word = word.strip().lower()
    if word.isdigit():
        return int(word)
    return EN_NUMBERS.get(word) or zh_number(word)


def _in_range(value: int | None) -> bool:
    return value is not None and 1 <= value <= MAX_QUANTITY


def find_quantities(text: str) -> list[Quantity]:
    """Every count in ``text`` (normalised), in order; overlapping readings keep the strongest."""
    lowered = normalise(text)
    found: list[Quantity] = []
    strong_patterns = (_ZH_COUNT, _TIMES, _VERB_NUMBER, _EN_COUNTED)
    for pattern in strong_patterns:
        for match in pattern.finditer(lowered):
            group = next(i for i, g in enumerate(match.groups(), 1) if g)
            value = read_number(match.group(group))
            if _in_range(value) and not (
                pattern is _VERB_NUMBER and _unit_follows(lowered, match.end())
            ):
                assert value is not None
                suffix = pattern is _TIMES
                found.append(Quantity(value, match.start(group), match.end(group), True, suffix))
    for pattern in (_EN_WORD, _DIGITS):
        for match in pattern.finditer(lowered):
            value = read_number(match.group(1))
            labelled = _LABEL_BEFORE.search(lowered[: match.start(1)]) is not None
            if _in_range(value) and match.group(1) not in ("a", "an") and not labelled:
                assert value is not None
                found.append(Quantity(value, match.start(1), match.end(1), False))
    return _without_overlaps(found)


def _unit_follows(text: str, end: int) -> bool:
    return re.match(rf"\s*(?:{UNITS})(?![a-z])", text[end:]) is not None


def _without_overlaps(found: list[Quantity]) -> list[Quantity]:
    kept: list[Quantity] = []
    for item in sorted(found, key=lambda q: (not q.strong, q.start)):
        if all(item.end <= k.start or item.start >= k.end for k in kept):
            kept.append(item)
    return sorted(kept, key=lambda q: q.start)


# What separates one item of a list from the next ("A、B", "A and B", "A加两个B").
PHRASE_BREAK = r"[,，、;；。!?！？+]|\band\b|\bplus\b|和|再|还有|加上?(?![绒大厚长宽热湿])|配上"
_BREAK = re.compile(PHRASE_BREAK)


def quantity_near(
    quantities: list[Quantity], text: str, start: int, end: int, window: int = 12
) -> int | None:
    """The count written right before a product mention ``text[start:end]``, or right after
    it ("×3", "买两个"), in the same phrase; None when there is none."""

    def same_phrase(a: int, b: int, reach: int = window) -> bool:
        return b - a <= reach and _BREAK.search(text[a:b]) is None

    # A marked count reaches further back ("ten packs of the 80-sheet wipes").
    before = [
        q
        for q in quantities
        if not q.suffix and q.end <= start and same_phrase(q.end, start, window * (1 + q.strong))
    ]
    after = [q for q in quantities if q.strong and q.start >= end and same_phrase(end, q.start)]
    if after and not any(q.strong for q in before):
        # "10-sheet masks, 3 boxes": a counted number ("三盒", "x3") outranks a bare one.
        before = [q for q in before if q.strong]
    elif any(q.strong for q in before):
        before = [q for q in before if q.strong]  # "ten packs of the 80 wipes"
    if before:
        return max(before, key=lambda q: q.end).value
    if after:
        return min(after, key=lambda q: q.start).value
    return None


_EACH = re.compile(
    rf"各\s*({ZH_NUMERAL}|\d{{1,2}})|(?<![\w'])(\d{{1,2}}|[a-z]+)\s+(?:of\s+)?each\b|"
    r"\beach\s+(?:x\s*)?(\d{1,2})\b"
)


def each_count(text: str) -> int | None:
    """The count a message gives every item at once: "各一个", "各2包", "one of each",
    "2 each"; None when it gives none."""
    match = _EACH.search(normalise(text))
    if match is None:
        return None
    value = read_number(next(g for g in match.groups() if g))
    return value if _in_range(value) else None


def only_count(quantities: list[Quantity]) -> int | None:
    """The message's one strong count, when it has exactly one value (for one product)."""
    values = {q.value for q in quantities if q.strong}
    return values.pop() if len(values) == 1 else None
