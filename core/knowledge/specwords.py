"""Which specification a question asks about ("What's the battery capacity", "防水吗",
"can I wear it in the rain", "功率多少瓦", "是有机的吗").

A spec is asked for when the question names its label or key (either language, spaces
ignored), names a common spec word that translates to a word of its label (a small general
glossary: 防水 → waterproof, 续航 → battery life ...), or repeats a distinctive word of its
value ("有机" in "有机认证").
"""

from __future__ import annotations

import re

from core.knowledge.linking import compact_with_map
from core.knowledge.model import Product, Spec
from core.knowledge.textproc import EN_STOP, normalise, stem

# General product vocabulary: a customer's word -> words that appear in spec labels.
GLOSSARY: dict[str, tuple[str, ...]] = {
    "防水": ("waterproof", "water"), "防泼水": ("water",), "下雨": ("waterproof", "water"),
    "淋雨": ("waterproof", "water"), "出汗": ("waterproof", "water"), "rain": ("waterproof", "water"),
    "sweat": ("waterproof", "water"), "swim": ("waterproof", "water"), "shower": ("waterproof",),
    "续航": ("battery life",), "电池": ("battery",), "充满": ("recharge", "charging"),
    "充电": ("recharge", "charging"),
    "容量": ("capacity",), "多大": ("capacity", "size", "dimensions"), "重量": ("weight",),
    "多重": ("weight",), "净含量": ("weight", "net weight"), "heavy": ("weight",),
    "功率": ("power",), "瓦": ("power",), "watt": ("power",), "接口": ("ports", "interface"),
    "几个口": ("ports",), "口": ("ports",), "端口": ("ports",), "蓝牙": ("bluetooth",),
    "降噪": ("noise",), "分辨率": ("resolution",), "夜视": ("night vision",),
    "速度": ("speed",), "读取": ("read",), "兼容": ("compatib", "works with"),
    "适配": ("compatib",), "材质": ("material",), "面料": ("material",), "尺寸": ("dimensions", "size"),
    "产地": ("origin",), "哪里产": ("origin",), "from where": ("origin",),
    "保质期": ("shelf life",), "放多久": ("shelf life",), "能放": ("shelf life", "storage"),
    "配料": ("ingredients",), "成分": ("ingredients", "material"), "咖啡因": ("caffeine",),
    "过敏": ("allergens",), "储存": ("storage",), "保存": ("storage",), "冲泡": ("brewing",),
    "怎么泡": ("brewing",), "brew": ("brewing",), "洗碗机": ("dishwasher",),
    "温度": ("temperature",), "年份": ("vintage",), "采摘": ("harvest",), "焙火": ("roast",),
    "last": ("battery life",), "charge": ("recharge", "charging"), "wifi": ("wi-fi",),
    "wash": ("care", "washing"), "clean": ("care", "cleaning"), "洗": ("care",), "保养": ("care",),
    "waterproof": ("waterproof", "water"), "water-resistant": ("water",), "splash": ("water",),
    "plane": ("flight",), "flight": ("flight",), "fly": ("flight",), "flying": ("flight",),
    "luggage": ("flight", "baggage"), "carry-on": ("flight", "baggage"), "cabin": ("flight", "cabin"),
    "飞机": ("flight", "登机"), "登机": ("flight", "登机"), "坐飞机": ("flight",), "随身": ("flight", "登机"),
    "how often": ("usage", "how to use", "use"), "times a week": ("usage", "how to use"),
    "every day": ("usage", "how to use"), "daily": ("usage", "how to use"),
    "morning": ("usage", "how to use"), "at night": ("usage", "how to use"),
    "几次": ("usage", "使用", "用法"), "一周": ("usage", "使用", "用法"), "每天": ("usage", "使用", "用法"),
    "早上": ("usage", "使用", "用法"), "白天": ("usage", "使用", "用法"), "晚上": ("usage", "使用", "用法"),
    "怎么用": ("usage", "使用", "用法"), "用法": ("usage", "使用", "用法"),
    "opened": ("after opening",), "once open": ("after opening",), "开封": ("开封",), "拆封": ("开封",),
    "里面有什么": ("contents", "内含"), "包含": ("contents", "内含"), "有哪些": ("contents", "内含"),
    "what's in": ("contents",), "what is in": ("contents",), "what comes in": ("contents",),
    "装多少": ("capacity", "holds", "volume"), "能装": ("capacity", "holds", "volume"),
    "多少斤": ("capacity", "holds", "weight"), "can it hold": ("capacity", "holds", "max load"),
    "weight can": ("max load", "holds"), "how much weight": ("max load", "holds"),
    "承重": ("max load",), "how tall": ("height",), "多高": ("height",), "高度": ("height",),
    "degrees": ("temperature",), "°c": ("temperature",), "℃": ("temperature",),
    "烤箱": ("oven",), "oven": ("oven",), "微波炉": ("microwave",), "microwave": ("microwave",),
    "冷冻": ("freezer",), "freezer": ("freezer",), "电磁炉": ("hobs", "induction"),
    "induction": ("hobs", "induction"), "燃气灶": ("hobs",), "硬度": ("hardness",),
    "电压": ("plug", "voltage", "input"), "voltage": ("plug", "voltage", "input"),
    "110v": ("plug", "voltage", "input"), "插头": ("plug",), "胸围": ("chest",),
    "噪音": ("noise",), "noisy": ("noise",), "loud": ("noise",), "声音": ("noise",),
    "吵": ("noise",), "quiet": ("noise",), "fold": ("folded", "fold"), "折叠": ("folded", "fold"),
    "how small": ("size", "dimensions", "folded"), "how big": ("size", "dimensions"),
    "新生儿": ("suitable", "age"), "newborn": ("suitable", "age"), "from birth": ("suitable", "age"),
    "几个月": ("suitable", "age"), "what age": ("suitable", "age"), "多大的宝宝": ("suitable", "age"),
    "认证": ("standard", "certif"), "certified": ("standard", "certif"), "标准": ("standard",),
    "能放几个": ("capacity",), "how many bottles": ("capacity",),
}  # fmt: skip
# Words too common in spec labels to say which one a question means.
_LABEL_FILLER = frozenset(
    {"the", "and", "for", "with", "per", "each", "after", "within", "how", "use", "used", "using"}
)
WARRANTY = re.compile(r"保修|质保|包修|warrant|guarantee")
_VALUE_WORD = re.compile(r"[\u4e00-\u9fff]{2,}|[a-z]{4,}")
_COMMON_VALUE_WORDS = frozenset(
    {"with", "only", "each", "from", "about", "water", "years", "months"}
)


# How clearly a question names a spec: its whole label or key, a glossary word for it,
# one word of its label, or a distinctive word of its value.
LABELLED, NAMED, PARTLY_NAMED, ECHOED = 4, 3, 2, 1


def _compact(text: str) -> str:
    return compact_with_map(normalise(text))[0]


def asks_warranty(text: str) -> bool:
    return WARRANTY.search(normalise(text)) is not None


def named_specs(text: str, product: Product) -> list[Spec]:
    """The specs the question names (by label, key or a glossary word; not an echoed value)."""
    return [spec for score, spec in _scored(text, product) if score >= PARTLY_NAMED]


def asked_specs(text: str, product: Product) -> list[Spec]:
    """The specs of ``product`` the question asks about, best first (at most three)."""
    scored = _scored(text, product)
    best = scored[0][0] if scored else 0
    # Every spec the question names (by label or glossary word); one that shares a word
    # of its label only when none is named so; an echoed value word only when nothing is.
    floor = min(best, NAMED)
    return [spec for score, spec in scored if score >= floor][:3]


def _scored(text: str, product: Product) -> list[tuple[int, Spec]]:
    """Each spec the question may ask about, with how clearly it is named."""
    own = normalise(" ".join([product.name.zh, product.name.en, *product.aliases]))
    # The product's own name says nothing about which spec is asked ("充电宝" is not "充电").
    normal = _without_names(normalise(text), product)
    compact = _compact(text)
    glossary_words = [
        label_word for word, targets in GLOSSARY.items() if word in normal for label_word in targets
    ]
    scored: list[tuple[int, int, Spec]] = []
    for index, spec in enumerate(product.specs):
        names = {_compact(spec.label.en), _compact(spec.label.zh), _compact(spec.key)}
        score = 0
        if any(n and len(n) >= 2 and n in compact for n in names):
            score = LABELLED
        elif _glossary_named(glossary_words, names):
            score = NAMED
        elif _label_word_named(normal, spec):
            score = PARTLY_NAMED
        elif _value_echoed(normal, spec, own):
            score = ECHOED
        if score:
            scored.append((score, -index, spec))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [(score, spec) for score, _, spec in scored]


def _value_echoed(normal: str, spec: Spec, own: str) -> bool:
    """The question repeats a distinctive word of the value ("有机" of "有机认证"),
    not one of the product's own name ("wool" of a wool coat)."""
    value = normalise(f"{spec.value.zh} {spec.value.en}")
    words = {w for w in _VALUE_WORD.findall(value) if w not in _COMMON_VALUE_WORDS and w not in own}
    for word in words:
        if not word.isascii():
            pairs = [word[i : i + 2] for i in range(len(word) - 1)]
            if any(p in normal and p not in own for p in pairs):
                return True
        elif re.search(rf"\b{re.escape(word)}", normal):
            return True
    return False


def _without_names(normal: str, product: Product) -> str:
    names = {normalise(n) for n in (product.name.zh, product.name.en, *product.aliases) if n}
    for name in sorted(names, key=len, reverse=True):
        normal = normal.replace(name, " ")
    return normal


def _glossary_named(glossary_words: list[str], names: set[str]) -> bool:
    return any(w.replace(" ", "") in n for w in glossary_words for n in names if n)


def _label_word_named(normal: str, spec: Spec) -> bool:
    """The question names a word of the spec's English label ("can I use it ..." names
    "how to use"; "once it's opened" names "use within after opening")."""
    label = {stem(w) for w in re.findall(r"[a-z]{3,}", normalise(spec.label.en))} - _LABEL_FILLER
    asked = {stem(w) for w in re.findall(r"[a-z]{3,}", normal)} - EN_STOP
    return bool(label & asked) or any(_same_root(a, b) for a in label for b in asked)


def _same_root(a: str, b: str) -> bool:
    """One word is the other with a short ending: "noise"/"noisy", "weigh"/"weight"."""
    short, long = sorted((a, b), key=len)
    return len(short) >= 4 and long.startswith(short) and len(long) - len(short) <= 2
