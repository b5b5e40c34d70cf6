"""Which products a message names, and where: product linking that tolerates typos, OCR
noise, spacing and either language.

A product is known by its SKUs (product and variants), names, aliases and the words that
only it has. In order:

1. **exact forms**: a name, alias or SKU appears, compared without spaces and punctuation
   ("trail lite" = "TrailLite", "e-bike" = "ebike"); SKUs may be glued to a label by OCR
   ("SKUHL-400");
2. **typos**: a form within a small edit distance of a same-length stretch of the text
   ("traillte" for "TrailLite", "camp stoev", "登山帐逢");
3. **own words**: a word of the product's names and aliases that no other product has
   ("Zephyr", "kettle");
4. **head nouns**: the one Chinese character that ends every Chinese name and alias of a
   product and no other product's ("窝" of 狗窝, 猫窝, 宠物窝), where it stands as a word of
   its own after a modifier ("70cm的窝", "大的窝呢").

Every mention keeps its place in the normalised text, so quantities and options written
next to it belong to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.knowledge.model import Knowledge, Product
from core.knowledge.textproc import EN_STOP, normalise

_SEPARATORS = re.compile(r"[\s\-_'’.·/()（）,，]+")
_LATIN_WORD = re.compile(r"[a-z][a-z0-9]+|\d+[a-z]+[a-z0-9]*")
_NOTE = re.compile(r"[(（][^)）]*[)）]")


def without_note(value: str) -> str:
    """``value`` without its parenthesised note ("73" of "73 (6-12 months)")."""
    return _NOTE.sub(" ", value).strip() or value


_CJK = re.compile(r"[\u4e00-\u9fff]")
# A head noun standing alone: after 的, a number, a unit or a measure word, and before
# punctuation, a particle or the end (so "窝" is not read inside another word).
_HEAD_NOUN = re.compile(
    r"(?<=[的个只张件\da-z])([\u4e00-\u9fff])(?=[^\u4e00-\u9fff]|[呢吗嘛的了多有要还也和与及跟怎能是]|$)"
)
# Measure words and units: after a number they count or measure, they do not name a product.
NOT_HEADS = frozenset("个件双条根盒罐袋包瓶只台套顶把支张份斤箱组副块枚款桶片粒支米克升寸码号元")
GENERIC_WORDS = frozenset(
    [
        "pro",
        "max",
        "mini",
        "plus",
        "lite",
        "set",
        "pack",
        "box",
        "bag",
        "new",
        "black",
        "white",
        "one",
        "size",
        "the",
        "and",
        "with",
        "for",
    ]
)


@dataclass(frozen=True, slots=True)
class Mention:
    """A product named in the text: ``text[start:end]`` (normalised text) and how."""

    product: Product
    start: int
    end: int
    how: str  # sku, name, typo, word, search (no place in the text: start == end == 0)


@dataclass(frozen=True, slots=True)
class _Form:
    product: Product
    compact: str  # lower case, no separators
    how: str
    glue: bool  # may be glued to letters around it (SKUs)


def compact_with_map(text: str) -> tuple[str, list[int]]:
    """``text`` without separators, and for each kept character its index in ``text``."""
    kept: list[str] = []
    where: list[int] = []
    for index, ch in enumerate(text):
        if not _SEPARATORS.fullmatch(ch):
            kept.append(ch)
            where.append(index)
    return "".join(kept), where


def _compact(text: str) -> str:
    return compact_with_map(normalise(text))[0]


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count 1), stopping past ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def typo_budget(form: str) -> int:
    """Edits tolerated for a form: none for short ones, 1 from 5 letters (3 Chinese), 2 from 10."""
    cjk = any("\u4e00" <= ch <= "\u9fff" for ch in form)
    length = len(form)
    if cjk:
        return 1 if length >= 4 else 0
    return 2 if length >= 10 else 1 if length >= 5 else 0


class ProductLinker:
    """Links text to the shop's products (active and discontinued ones).

    Args:
        knowledge: The loaded shop.
    """

    def __init__(self, knowledge: Knowledge) -> None:
        self.products = knowledge.products
        self._forms = sorted(self._all_forms(), key=lambda f: -len(f.compact))
        self._own_words = self._unique_words()
        self._heads = self._head_nouns()
        self._head_words = self._english_heads()

    def _all_forms(self) -> list[_Form]:
        forms: list[_Form] = []
        for product in self.products:
            skus = {product.sku, *(v.sku for v in product.variants if v.sku)}
            forms += [_Form(product, _compact(s), "sku", True) for s in skus if len(s) >= 4]
            names = {product.name.zh, product.name.en, *product.aliases}
            forms += [_Form(product, _compact(n), "name", False) for n in names if n.strip()]
        own_tags = self._own_tags().items()
        forms += [  # "bath towels": a tag is a common noun, said in the plural too
            _Form(p, _compact(t) + plural, "word", False)
            for t, p in own_tags
            for plural in ("", "s" if t.isascii() else "")
        ]
        return [f for f in forms if len(f.compact) >= 2]

    def _own_tags(self) -> dict[str, Product]:
        """Tags only one product has and specific enough to name it: two words or more
        ("bath towel"), or three Chinese characters or more."""
        owners: dict[str, list[Product]] = {}
        for product in self.products:
            for tag in {normalise(t).strip() for t in product.tags}:
                owners.setdefault(tag, []).append(product)
        texts = {
            p.sku: normalise(" ".join([p.name.en, *p.aliases, *(v for _, v in _spec_texts(p))]))
            for p in self.products
        }
        return {
            tag: found[0]
            for tag, found in owners.items()
            if len(found) == 1
            and (" " in tag or (not tag.isascii() and len(tag) >= 3))
            and not any(tag in text for sku, text in texts.items() if sku != found[0].sku)
        }

    def _unique_words(self) -> dict[str, Product]:
        owners: dict[str, set[str]] = {}
        for product in self.products:
            text = normalise(" ".join([product.name.en, *product.aliases]))
            for word in _LATIN_WORD.findall(text):
                if len(word) >= 5 and word not in EN_STOP and word not in GENERIC_WORDS:
                    owners.setdefault(word, set()).add(product.sku)
        by_sku = {p.sku: p for p in self.products}
        return {w: by_sku[next(iter(s))] for w, s in owners.items() if len(s) == 1}

    def _head_nouns(self) -> dict[str, Product]:
        """Last character of a product's Chinese name shared by another of its Chinese
        forms, found in no other product's names, and not a measure word or unit."""
        owners: dict[str, set[str]] = {}
        for product in self.products:
            forms = [n.strip() for n in (product.name.zh, *product.aliases) if _CJK.search(n)]
            head = product.name.zh.strip()[-1:]
            shared = sum(f.endswith(head) for f in forms) >= 2
            if shared and _CJK.fullmatch(head) and head not in NOT_HEADS:
                owners.setdefault(head, set()).add(product.sku)
        by_sku = {p.sku: p for p in self.products}
        heads = {}
        for head, skus in owners.items():
            users = {p.sku for p in self.products if head in p.name.zh + "".join(p.aliases)}
            if len(skus) == len(users) == 1:
                heads[head] = by_sku[next(iter(skus))]
        return heads

    def _english_heads(self) -> dict[str, Product]:
        """The last word of two or more of a product's English name and aliases ("bottle" of
        "Baby Bottle", "feeding bottle") that ends no other product's ("Bottle Sterilizer"
        uses it as a modifier) and is no feature in another's specs ("Plug", "Oven safe")."""
        ends: dict[str, dict[str, int]] = {}
        for product in self.products:
            for name in (product.name.en, *(a for a in product.aliases if a.isascii())):
                words = _LATIN_WORD.findall(normalise(without_note(name)))
                if words:
                    counts = ends.setdefault(_singular(words[-1]), {})
                    counts[product.sku] = counts.get(product.sku, 0) + 1
        used = {p.sku: _words_of(p) for p in self.products}
        by_sku = {p.sku: p for p in self.products}
        heads = {}
        for word, counts in ends.items():
            (sku, times), *others = counts.items()
            elsewhere = any(word in words for s, words in used.items() if s != sku)
            if not others and times >= 2 and len(word) >= 3 and not elsewhere:
                heads[word] = by_sku[sku]
        return {w: p for w, p in heads.items() if w not in GENERIC_WORDS | EN_STOP}

    def _own_word(self, word: str) -> Product | None:
        """The product whose own word ``word`` is, in the plural ("strollers") or with one
        typo ("stroler", from 6 letters) too."""
        for form in (word, _singular(word)):
            if form in self._own_words:
                return self._own_words[form]
        if len(word) < 6:
            return None
        close = {
            p.sku: p
            for own, p in self._own_words.items()
            if len(own) >= 6
            and (own[:2], own[-1]) == (word[:2], word[-1])  # "carries" is not "carrier"
            and edit_distance(word, own, 1) <= 1
        }
        return next(iter(close.values())) if len(close) == 1 else None

    def link(self, text: str) -> list[Mention]:
        """The products ``text`` names, in the order they appear, one mention each."""
        normal = normalise(text)
        compact, where = compact_with_map(normal)
        taken: list[tuple[int, int]] = []
        mentions: list[Mention] = []

        def add(product: Product, start: int, end: int, how: str) -> None:
            if any(s < end and start < e for s, e in taken):
                return
            taken.append((start, end))
            mentions.append(Mention(product, start, end, how))

        for form in self._forms:
            for match in re.finditer(re.escape(form.compact), compact):
                start, end = where[match.start()], where[match.end() - 1] + 1
                if form.glue or _word_bounded(normal, start, end):
                    add(form.product, start, end, form.how)
        for form, start, end in self._typos(normal, compact, where):
            add(form.product, start, end, "typo")
        for match in _LATIN_WORD.finditer(normal):
            word = match.group(0)
            product = self._own_word(word) or self._head_words.get(_singular(word))
            if product is not None:
                add(product, match.start(), match.end(), "word")
        for match in _HEAD_NOUN.finditer(normal):
            product = self._heads.get(match.group(1))
            if product is not None:
                add(product, match.start(1), match.end(1), "word")
        return _one_per_product(sorted(mentions, key=lambda m: m.start), normal)

    def _typos(self, normal: str, compact: str, where: list[int]) -> list[tuple[_Form, int, int]]:
        found = []
        for form in self._forms:
            budget = typo_budget(form.compact)
            if not budget or form.how == "sku":
                continue
            size = len(form.compact)
            for length in range(max(2, size - budget), size + budget + 1):
                for i in range(0, len(compact) - length + 1):
                    window = compact[i : i + length]
                    if window[0] != form.compact[0] and window[-1] != form.compact[-1]:
                        continue
                    start, end = where[i], where[i + length - 1] + 1
                    if not _word_bounded(normal, start, end):
                        continue
                    if edit_distance(window, form.compact, budget) <= budget:
                        found.append((form, start, end))
        return found


def _words_of(product: Product) -> frozenset[str]:
    """Every Latin word (singular) of a product's spec labels (features: "Plug", "Oven safe")."""
    text = " ".join(k for k, _ in _spec_texts(product))
    return frozenset(_singular(w) for w in _LATIN_WORD.findall(normalise(text)))


def _singular(word: str) -> str:
    """ "strollers" -> "stroller", "boxes" -> "box"; other words as they are."""
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _spec_texts(product: Product) -> list[tuple[str, str]]:
    return [(k, v.en) for k, v in product.attributes] + [
        (spec.label.en, spec.value.en) for spec in product.specs
    ]


def _word_bounded(text: str, start: int, end: int) -> bool:
    """A Latin form must not start or end inside a Latin word ("tea" in "steam")."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    inner_first, inner_last = text[start], text[end - 1]
    if inner_first.isascii() and inner_first.isalnum() and before.isascii() and before.isalpha():
        return False
    return not (
        inner_last.isascii() and inner_last.isalpha() and after.isascii() and after.isalpha()
    )


PRIORITY = {"sku": 0, "name": 1, "word": 2, "typo": 3, "search": 4}


def _one_per_product(mentions: list[Mention], text: str) -> list[Mention]:
    """One mention per product; of two mentions side by side (one noun phrase, such as
    "20000mAh power banks"), the surer one."""
    out: list[Mention] = []
    for mention in mentions:
        if any(m.product.sku == mention.product.sku for m in out):
            continue
        if out and not text[out[-1].end : mention.start].strip():
            if PRIORITY[mention.how] < PRIORITY[out[-1].how]:
                out[-1] = mention
            continue
        out.append(mention)
    return out
