"""Which variant the customer means: option values named in the text ("in size L", "100 g",
"100克", "white", "白色", "14 inch navy", "8枚装", "128G").

Each of a product's options (size, colour, weight, pack, flavour, ...) is matched on its
own; the variants chosen are those that agree with every option the text names. Values are
compared in both languages without spaces; values with a number match the same number in
the text with the same (or no) unit, so "100克" picks "100 g" and "128G" picks "128GB", but
"1万毫安" does not pick "1 m".
"""

from __future__ import annotations

import re
from collections import Counter

from core.knowledge.linking import compact_with_map
from core.knowledge.model import Localized, Product, Variant
from core.knowledge.specclaims import UNITS
from core.knowledge.textproc import normalise

LETTER_SIZES = frozenset({"XXXL", "XXL", "XL", "XS", "S", "M", "L"})
_LETTER_SIZE = re.compile(r"(?<![A-Za-z'’])(XXXL|XXL|XL|XS|S|M|L)(?![A-Za-z])")
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([a-z\"]+|[\u4e00-\u9fff]{1,2})?")
ZH_PARTICLES = frozenset("呢吗嘛么的了啊呀吧和或还也")
# Colour words in Chinese, for catalogs that name colours in English only.
ZH_COLOURS = {
    "酒红": "burgundy", "藏青": "navy", "海军蓝": "navy", "浅蓝": "light blue", "卡其": "khaki",
    "驼": "camel", "燕麦": "oatmeal", "米白": "natural", "米色": "beige", "橄榄": "olive",
    "鼠尾草": "sage", "芥末": "mustard", "炭灰": "charcoal", "银": "silver", "粉": "pink",
    "金": "gold", "紫": "purple", "黄": "yellow", "橙": "orange", "红": "red", "黑": "black",
    "白": "white", "灰": "grey", "蓝": "blue", "棕": "brown", "咖啡": "brown", "绿": "green",
}  # fmt: skip


def _unit(raw: str | None) -> str:
    """The unit written after a number, or "" when the word after it is not a unit
    ("02 Honey" is shade 02, not 2 honeys)."""
    if not raw:
        return ""
    raw = raw.lower()
    if raw in UNITS:
        return UNITS[raw]
    if raw.isascii():
        return ""  # an English word after a number names the value, it does not measure it
    if raw[:1] in UNITS:  # "克的", "寸呢": the unit, then a particle
        return UNITS[raw[:1]]
    return "" if raw[:1] in ZH_PARTICLES else raw  # "1万毫安" is not "1 m"


def _numbers(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), _unit(m.group(2))) for m in _NUMBER.finditer(text)]


def _units_agree(a: str, b: str) -> bool:
    return not a or not b or a == b or a[0] == b[0]


# A word of an option value: Latin letters (3 or more) or a run of Chinese characters.
_VALUE_WORD = re.compile(r"[a-z]{3,}|[\u4e00-\u9fff]{2,}")


def _value_words(value: Localized) -> set[str]:
    return {w for text in (value.en, value.zh) for w in _VALUE_WORD.findall(normalise(text))}


def _colour_words(value: str) -> list[str]:
    lowered = value.lower()
    return [zh for zh, en in ZH_COLOURS.items() if en in lowered.split() or en == lowered]


class OptionText:
    """The customer's words prepared once for option matching (product mentions blanked)."""

    def __init__(self, text: str) -> None:
        self.normal = normalise(text)
        self.upper = self.normal.upper()
        self.compact = compact_with_map(self.normal)[0]
        self.numbers = _numbers(self.normal)

    def names_exactly(self, value: str) -> bool:
        compact = compact_with_map(normalise(value))[0]
        if not compact:
            return False
        if compact.upper() in LETTER_SIZES:
            return any(m.group(1) == compact.upper() for m in _LETTER_SIZE.finditer(self.upper))
        if compact.isascii() and len(compact) <= 2:
            return False  # too short to find safely outside letter sizes
        if compact.isascii():
            words = re.findall(r"[a-z0-9]+", normalise(value))
            pattern = r"[\s\-_/]*".join(re.escape(w) for w in words)
            return re.search(rf"(?<![a-z0-9]){pattern}(?![a-z0-9])", self.normal) is not None
        return compact in self.compact

    def names_number(self, value: str) -> bool:
        wanted = _numbers(normalise(value))
        if not wanted:
            return False
        return all(
            any(n == number and _units_agree(u, unit) for n, u in self.numbers)
            for number, unit in wanted
        )

    def names_word(self, word: str) -> bool:
        if word.isascii():
            return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", self.normal) is not None
        return word in self.compact

    def names_colour(self, value: str) -> bool:
        return any(word in self.normal for word in _colour_words(value))


def chosen_variants(text: str, product: Product) -> tuple[Variant, ...]:
    """The variants ``text`` picks by naming option values; () when it names none."""
    if len(product.variants) < 2 or not product.options:
        return ()
    reading = OptionText(text)
    chosen = list(product.variants)
    named_any = False
    for option in product.options:
        values = {v.option(option) for v in product.variants} - {None}
        matched = _matched_values(reading, [v for v in values if v is not None])
        if matched:
            named_any = True
            chosen = [v for v in chosen if v.option(option) in matched]
    return tuple(chosen) if named_any else ()


def _matched_values(reading: OptionText, values: list[Localized]) -> list[Localized]:
    exact = [v for v in values if reading.names_exactly(v.en) or reading.names_exactly(v.zh)]
    if exact:
        # "iPhone 15 Pro" named: "iPhone 15" is inside it, not named on its own.
        longest = [v for v in exact if not any(v is not o and _inside(v, o) for o in exact)]
        return longest
    numeric = [v for v in values if reading.names_number(v.en) or reading.names_number(v.zh)]
    if numeric:
        return numeric
    distinctive = _named_by_own_word(reading, values)
    if distinctive:
        return distinctive
    return [v for v in values if reading.names_colour(v.en)]


def _named_by_own_word(reading: OptionText, values: list[Localized]) -> list[Localized]:
    """Values named by a word no other value of the option has: "Honey" for the shade
    "02 Honey", "滋润型" for "滋润型（干性肌）" (customers say part of a long value)."""
    words = [_value_words(v) for v in values]
    seen = Counter(w for own in words for w in own)
    return [
        v for v, own in zip(values, words, strict=True)
        if any(seen[w] == 1 and reading.names_word(w) for w in own)
    ]  # fmt: skip


def _inside(short: object, long: object) -> bool:
    a = compact_with_map(normalise(getattr(short, "en", "")))[0]
    b = compact_with_map(normalise(getattr(long, "en", "")))[0]
    return a != b and a in b


def blank_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` (normalised) with the given spans replaced by spaces (product names hold
    numbers that are not options: "Trail Tent 2", "Lamp 300")."""
    chars = list(normalise(text))
    for start, end in spans:
        for i in range(start, min(end, len(chars))):
            chars[i] = " "
    return "".join(chars)
