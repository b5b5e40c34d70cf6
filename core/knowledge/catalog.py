"""Product lookup: by SKU (exact, tolerant of OCR spacing) or by name.

The catalog tool answers "which product is the customer asking about?". SKUs are matched
against the real catalog only (``JK-3002``, ``JK 3002``, ``jk3002``); names match when the
full Chinese or English name appears in the text, or when BM25 over product documents finds
one clear winner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.knowledge.documents import Document
from core.knowledge.model import Knowledge, Product
from core.knowledge.retrieval import Retriever
from core.knowledge.textproc import normalise

CLOTHING_SIZES = ("XXXL", "XXL", "XL", "XS", "S", "M", "L")
_LETTER_SIZE = re.compile(
    r"(?<![A-Za-z'’])(XXXL|XXL|XL|XS|S|M|L)(?![A-Za-z])(?:\s*(?:码|号|size))?"
)
_NUMBER_SIZE = re.compile(
    r"(?:size|尺码|码数|鞋码|eu|腰围)\s*(\d{2,3})|(\d{2,3})\s*(?:码|号|cm|厘米|寸)|(?<![\d.¥￥$-])(\d{2,3})(?![\d.%])"
)


@dataclass(frozen=True, slots=True)
class ProductMatch:
    """A product the text refers to and how it was recognised (``sku``, ``name``, ``search``)."""

    product: Product
    how: str


def name_document(product: Product) -> Document:
    """What identifies a product by name: SKU, names, category and tags."""
    words = [
        product.sku,
        product.name.zh,
        product.name.en,
        product.category_name.zh,
        product.category_name.en,
        *product.tags,
    ]
    return Document(product.source, "product", product.name, product.name, " ".join(words))


class Catalog:
    """Finds products mentioned in customer text or OCR text.

    Args:
        knowledge: The loaded shop.
        min_search_coverage: Share of the query's product words a fuzzy match must contain.
        min_overall_coverage: Share of all the query's key words it must contain.
    """

    def __init__(
        self,
        knowledge: Knowledge,
        min_search_coverage: float = 0.5,
        min_overall_coverage: float = 0.34,
    ) -> None:
        self._knowledge = knowledge
        self._min_overall = min_overall_coverage
        # Names, categories and tags only: a description mentioning "laptop" must not make
        # the tote bag the answer to "do you sell laptops?".
        self._index = Retriever(name_document(p) for p in knowledge.products)
        self._min_coverage = min_search_coverage
        self._sku_patterns = [
            (
                re.compile(
                    r"(?<![A-Z0-9])"
                    + r"[\s\-_]?".join(map(re.escape, re.split(r"-", p.sku)))
                    + r"(?![0-9])"
                ),
                p,
            )
            for p in knowledge.products
        ]

    def by_sku(self, text: str) -> list[ProductMatch]:
        """Products whose SKU appears in ``text`` (case- and separator-insensitive)."""
        upper = normalise(text).upper()
        return [
            ProductMatch(p, "sku") for pattern, p in self._sku_patterns if pattern.search(upper)
        ]

    def by_name(self, text: str) -> list[ProductMatch]:
        """Products whose full Chinese or English name appears in ``text``."""
        lowered = normalise(text)
        return [
            ProductMatch(p, "name")
            for p in self._knowledge.products
            if normalise(p.name.zh) in lowered or normalise(p.name.en) in lowered
        ]

    def by_search(self, text: str, limit: int = 3) -> list[ProductMatch]:
        """Best product documents for ``text``; one clear winner, or the close contenders.

        A hit must cover most of the query's product words (words no product has, like
        "国庆" or "today", are ignored) and a fair share of all its words, so "How long does
        delivery take?" does not become a question about the Long-sleeve Tee.
        """
        hits = self._index.search(text, k=limit, ignore_unknown=True)
        overall = {h.document.source: h.coverage for h in self._index.search(text, k=limit)}
        hits = [
            h
            for h in hits
            if h.coverage >= self._min_coverage
            and overall.get(h.document.source, 0.0) >= self._min_overall
        ]
        if not hits:
            return []
        if len(hits) > 1 and hits[0].score >= 1.5 * hits[1].score:
            hits = hits[:1]  # a clear winner
        products = [
            self._knowledge.product(h.document.source.removeprefix("catalog:")) for h in hits
        ]
        return [ProductMatch(p, "search") for p in products if p is not None]

    def find(self, text: str) -> list[ProductMatch]:
        """SKU matches first, then exact names, then fuzzy search; duplicates removed."""
        for finder in (self.by_sku, self.by_name, self.by_search):
            found = finder(text)
            if found:
                unique: dict[str, ProductMatch] = {}
                for match in found:
                    unique.setdefault(match.product.sku, match)
                return list(unique.values())
        return []


def sizes_in(text: str, product: Product) -> list[str]:
    """The sizes of ``product`` that ``text`` mentions ("M码", "size 42", "42码", "XL")."""
    known = {v.size.upper(): v.size for v in product.variants}
    found: list[str] = []
    for match in _LETTER_SIZE.finditer(normalise(text).upper()):
        if match.group(1) in known:
            found.append(known[match.group(1)])
    for match in _NUMBER_SIZE.finditer(normalise(text)):
        value = next(g for g in match.groups() if g)
        if value in known:
            found.append(known[value])
    return list(dict.fromkeys(found))


# Chinese colour words -> the English colour names used in catalog variants.
ZH_COLOURS = {
    "酒红": "burgundy",
    "藏青": "navy",
    "海军蓝": "navy",
    "浅蓝": "light blue",
    "卡其": "khaki",
    "驼": "camel",
    "燕麦": "oatmeal",
    "米白": "natural",
    "米": "beige",
    "橄榄": "olive",
    "鼠尾草": "sage",
    "芥末": "mustard",
    "炭灰": "charcoal",
    "红": "red",
    "黑": "black",
    "白": "white",
    "灰": "grey",
    "蓝": "blue",
    "棕": "brown",
    "咖啡": "brown",
    "绿": "olive",
}


def colours_in(text: str, product: Product) -> list[str]:
    """The variant colours of ``product`` that ``text`` names, in English or Chinese."""
    lowered = normalise(text)
    colours = {v.color for v in product.variants if v.color}
    found = [c for c in colours if c.lower() in lowered]
    for word, colour in ZH_COLOURS.items():
        if word in lowered:
            found.extend(c for c in colours if colour in c.lower())
            lowered = lowered.replace(word, " ")  # "酒红" must not also count as "红"
    return list(dict.fromkeys(found))
