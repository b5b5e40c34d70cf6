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
from core.knowledge.textproc import normalise

# General product vocabulary: a customer's word -> words that appear in spec labels.
GLOSSARY: dict[str, tuple[str, ...]] = {
    "防水": ("waterproof", "water"), "防泼水": ("water",), "下雨": ("waterproof", "water"),
    "淋雨": ("waterproof", "water"), "出汗": ("waterproof", "water"), "rain": ("waterproof", "water"),
    "sweat": ("waterproof", "water"), "swim": ("waterproof", "water"), "shower": ("waterproof",),
    "续航": ("battery life",), "电池": ("battery",), "充满": ("recharge", "charging"),
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
}  # fmt: skip
WARRANTY = re.compile(r"保修|质保|包修|warrant|guarantee")
_VALUE_WORD = re.compile(r"[\u4e00-\u9fff]{2,}|[a-z]{4,}")
_COMMON_VALUE_WORDS = frozenset(
    {"with", "only", "each", "from", "about", "water", "years", "months"}
)


def _compact(text: str) -> str:
    return compact_with_map(normalise(text))[0]


def asks_warranty(text: str) -> bool:
    return WARRANTY.search(normalise(text)) is not None


def asked_specs(text: str, product: Product) -> list[Spec]:
    """The specs of ``product`` the question asks about, best first (at most three)."""
    normal = normalise(text)
    own = normalise(" ".join([product.name.zh, product.name.en, *product.aliases]))
    compact = _compact(text)
    glossary_words = [
        label_word for word, targets in GLOSSARY.items() if word in normal for label_word in targets
    ]
    scored: list[tuple[int, int, Spec]] = []
    for index, spec in enumerate(product.specs):
        names = {_compact(spec.label.en), _compact(spec.label.zh), _compact(spec.key)}
        score = 0
        if any(n and len(n) >= 2 and n in compact for n in names):
            score = 3
        elif any(w.replace(" ", "") in n for w in glossary_words for n in names if n):
            score = 2
        elif _value_echoed(normal, spec, own):
            score = 1
        if score:
            scored.append((score, -index, spec))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    best = scored[0][0] if scored else 0
    # Every spec the question names (by label or glossary word); an echoed value word
    # only when nothing is named.
    floor = 2 if best >= 2 else best
    return [spec for score, _, spec in scored if score >= floor][:3]


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
