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

from core.knowledge.linking import compact_with_map, without_note
from core.knowledge.model import Localized, Product, Variant
from core.knowledge.specclaims import UNITS
from core.knowledge.textproc import normalise

LETTER_SIZES = frozenset(
    {"XXXL", "XXL", "XL", "XXS", "XS", "SS", "S", "M", "L", "NB", "2XL", "3XL", "4XL"}
)
_LETTER_SIZE = re.compile(
    r"(?<![A-Za-z0-9'’])(XXXL|XXL|XXS|4XL|3XL|2XL|XL|XS|SS|NB|S|M|L)(?![A-Za-z])"
)
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*([a-z\"]+|[\u4e00-\u9fff]{1,2})?")
ZH_PARTICLES = frozenset("呢吗嘛么的了啊呀吧和或还也")
# Colour words in Chinese, for catalogs that name colours in English only.
ZH_COLOURS = {
    "酒红": "burgundy", "藏青": "navy", "海军蓝": "navy", "浅蓝": "light blue", "卡其": "khaki",
    "驼": "camel", "燕麦": "oatmeal", "米白": "natural", "米色": "beige", "橄榄": "olive",
    "鼠尾草": "sage", "芥末": "mustard", "炭灰": "charcoal", "银": "silver", "粉": "pink",
    "金": "gold", "紫": "purple", "黄": "yellow", "橙": "orange", "红": "red", "黑": "black",
    "白": "white", "灰": "grey", "蓝": "blue", "棕": "brown", "咖啡": "brown", "绿": "green",
    "奶油": "cream", "石墨": "graphite", "沙色": "sand", "牛仔": "denim", "薄荷": "mint",
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


def _same(a: str, b: str) -> bool:
    """The same number however written ("2" and "2.0")."""
    return a == b or float(a) == float(b)


def _units_agree(a: str, b: str) -> bool:
    return not a or not b or a == b or a[0] == b[0]


# A word of an option value: Latin letters (3 or more) or a run of Chinese characters.
_VALUE_WORD = re.compile(r"[a-z]{3,}|[\u4e00-\u9fff]{2,}")


def _value_words(value: Localized) -> set[str]:
    return {w for text in (value.en, value.zh) for w in _VALUE_WORD.findall(normalise(text))}


def _colour_words(value: str) -> list[str]:
    lowered = value.lower()
    return [zh for zh, en in ZH_COLOURS.items() if en in lowered.split() or en == lowered]


Span = tuple[int, int]
# Chinese words customers use for option values that catalogs often write in English only
# (flavours, scents, sizes): the Chinese word and the English words it stands for.
ZH_OPTION_WORDS: dict[str, tuple[str, ...]] = {
    "原味": ("original", "plain", "classic"), "无香": ("unscented", "fragrance-free"),
    "绿茶": ("green tea",), "蜜桃": ("peach",), "桃子": ("peach",), "桃味": ("peach",),
    "薰衣草": ("lavender",), "柠檬": ("lemon",), "玫瑰": ("rose",), "香草": ("vanilla",),
    "椰子": ("coconut",), "薄荷": ("mint",), "草莓": ("strawberry",), "巧克力": ("chocolate",),
    "鸡肉": ("chicken",), "牛肉": ("beef",), "羊肉": ("lamb",), "鸭肉": ("duck",),
    "三文鱼": ("salmon",), "金枪鱼": ("tuna",), "鱼肉": ("fish",), "火鸡": ("turkey",),
    "小号": ("S", "small"), "中号": ("M", "medium"), "大号": ("L", "large"),
    "加大": ("XL", "extra large"), "特大": ("XXL", "XL"), "迷你": ("mini",),
    "y字": ("y-cut",), "十字": ("cross-cut", "cross"), "圆孔": ("round hole",),
}  # fmt: skip


def _has_word(text: str, word: str) -> bool:
    """``word`` in ``text`` as a whole word (a letter size only in capitals: "S (6 cm)")."""
    if word.upper() in LETTER_SIZES and len(word) <= 3:
        return re.search(rf"(?<![A-Za-z]){word}(?![A-Za-z])", text) is not None
    return re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", text.lower()) is not None


class OptionText:
    """The customer's words prepared once for option matching (product mentions blanked).

    Every reading answers with the places (spans of ``normal``) where a value is named, so a
    message naming several values of one option can give each its own count.
    """

    def __init__(self, text: str) -> None:
        self.normal = normalise(text)
        self.upper = self.normal.upper()
        self.compact, self._where = compact_with_map(self.normal)
        self.numbers = [
            (m.group(1), _unit(m.group(2)), (m.start(), m.end()))
            for m in _NUMBER.finditer(self.normal)
        ]

    def _compact_spans(self, needle: str) -> list[Span]:
        spans, at = [], self.compact.find(needle)
        while needle and at >= 0:
            spans.append((self._where[at], self._where[at + len(needle) - 1] + 1))
            at = self.compact.find(needle, at + 1)
        return spans

    def exact_spans(self, value: str) -> list[Span]:
        compact = compact_with_map(normalise(value))[0]
        if not compact:
            return []
        if compact.upper() in LETTER_SIZES:
            return [
                m.span(1)
                for m in _LETTER_SIZE.finditer(self.upper)
                if m.group(1) == compact.upper()
            ]
        if compact.isascii() and len(compact) <= 2:
            return []  # too short to find safely outside letter sizes
        if compact.isascii():
            words = re.findall(r"[a-z0-9]+", normalise(value))
            pattern = r"[\s\-_/]*".join(re.escape(w) for w in words)
            return [
                m.span() for m in re.finditer(rf"(?<![a-z0-9]){pattern}(?![a-z0-9])", self.normal)
            ]
        return self._compact_spans(compact)

    def number_spans(self, value: str) -> list[Span]:
        wanted = _numbers(normalise(value))
        if not wanted:
            return []
        found = [
            [span for n, u, span in self.numbers if _same(n, number) and _units_agree(u, unit)]
            for number, unit in wanted
        ]
        return found[0] if all(found) else []

    def word_spans(self, word: str) -> list[Span]:
        if word.isascii():
            return [
                m.span() for m in re.finditer(rf"(?<![a-z]){re.escape(word)}(?![a-z])", self.normal)
            ]
        return self._compact_spans(word)

    def colour_spans(self, value: str) -> list[Span]:
        """Chinese colour or option words for a value written in English ("白色", "原味")."""
        zh_words = _colour_words(value) + [
            zh
            for zh, english in ZH_OPTION_WORDS.items()
            if any(_has_word(value, e) for e in english)
        ]
        return [span for word in zh_words for span in self._compact_spans(word)]

    def names_exactly(self, value: str) -> bool:
        return bool(self.exact_spans(value))

    def names_number(self, value: str) -> bool:
        return bool(self.number_spans(value))

    def names_word(self, word: str) -> bool:
        return bool(self.word_spans(word))


def chosen_variants(text: str, product: Product) -> tuple[Variant, ...]:
    """The variants ``text`` picks by naming option values; () when it names none."""
    if len(product.variants) < 2 or not product.options:
        return ()
    reading = OptionText(text)
    chosen = list(product.variants)
    named_any = False
    for option in product.options:
        matched = [value for value, _ in _named_values(reading, product, option)]
        if matched:
            named_any = True
            chosen = [v for v in chosen if v.option(option) in matched]
    return tuple(chosen) if named_any else ()


def options_named(text: str, product: Product) -> int:
    """How many of ``product``'s options the text names a value of (0 for one variant)."""
    if len(product.variants) < 2:
        return 0
    reading = OptionText(text)
    return sum(bool(_named_values(reading, product, option)) for option in product.options)


def variant_lines(text: str, product: Product) -> list[tuple[Span, tuple[Variant, ...]]]:
    """Where ``text`` names two or more values of one option of ``product`` ("原味3包、绿茶味3包",
    "6 chicken and 6 tuna"): each value's first place and the variants it picks (agreeing with
    the other options named), in the order written; [] when no option is named twice over."""
    if len(product.variants) < 2:
        return []
    reading = OptionText(text)
    for option in product.options:
        named = _named_values(reading, product, option)
        if len(named) < 2:
            continue
        others = chosen_variants(_blank_values(text, named), product) or product.variants
        lines = [
            (spans[0], tuple(v for v in others if v.option(option) == value))
            for value, spans in named
        ]
        return sorted((line for line in lines if line[1]), key=lambda line: line[0])
    return []


def _blank_values(text: str, named: list[tuple[Localized, list[Span]]]) -> str:
    return blank_spans(text, [span for _, spans in named for span in spans])


def _named_values(
    reading: OptionText, product: Product, option: str
) -> list[tuple[Localized, list[Span]]]:
    """The values of ``option`` the text names, each with the places it is named."""
    values = [v for v in dict.fromkeys(v.option(option) for v in product.variants) if v]
    return [(v, spans) for v in _matched_values(reading, values) if (spans := _spans(reading, v))]


def _spans(reading: OptionText, value: Localized) -> list[Span]:
    """Where ``value`` is named, by the surest reading that finds it (the value as written,
    then its number, then a word of it, then a Chinese word for it), first place first."""
    readings = (
        [*reading.exact_spans(value.en), *reading.exact_spans(value.zh),
         *reading.exact_spans(without_note(value.en)), *reading.exact_spans(without_note(value.zh))],
        [*reading.number_spans(without_note(value.en)), *reading.number_spans(without_note(value.zh))],
        [s for w in _value_words(value) for s in reading.word_spans(w)],
        reading.colour_spans(value.en),
    )  # fmt: skip
    return next((sorted(set(found)) for found in readings if found), [])


def _matched_values(reading: OptionText, values: list[Localized]) -> list[Localized]:
    exact = [
        v
        for v in values
        if any(
            reading.names_exactly(t) for t in (v.en, v.zh, without_note(v.en), without_note(v.zh))
        )
    ]
    if exact:
        # "iPhone 15 Pro" named: "iPhone 15" is inside it, not named on its own.
        longest = [v for v in exact if not any(v is not o and _inside(v, o) for o in exact)]
        return longest
    numeric = [
        v
        for v in values
        if reading.names_number(without_note(v.en)) or reading.names_number(without_note(v.zh))
    ]
    if numeric:
        return numeric
    distinctive = _named_by_own_word(reading, values)
    if distinctive:
        return distinctive
    return [v for v in values if reading.colour_spans(v.en)]


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
