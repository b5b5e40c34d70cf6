"""BM25 retrieval over the shop's products, policy sections, promotions and FAQ.

Every knowledge item becomes one :class:`Document` with a source id (``faq:invoice``,
``policy:returns#return-window``, ``catalog:JK-3002``, ``promo:WINTER-OUTERWEAR-2026``)
so answers can cite where a fact came from and the evaluation can measure recall@k.
"Nothing relevant" is detectable: a hit carries its BM25 score and the share of the
query's key terms it covers, and :meth:`Retriever.relevant` applies the thresholds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.knowledge.documents import Document, documents_of
from core.knowledge.model import Knowledge
from core.knowledge.textproc import add_words, key_terms, sub_words, tokenize


@dataclass(frozen=True, slots=True)
class Hit:
    """A scored document. ``coverage`` is the idf-weighted share of query terms it contains;
    ``missing`` the query's words it lacks that the shop's FAQ or policies use elsewhere (not a word of the customer's own like "冰箱" for "冷藏", not a product's name,
    not a lone Chinese character): words it would need to be about the question."""

    document: Document
    score: float
    coverage: float
    missing: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RelevanceThresholds:
    """When retrieval found something.

    Attributes:
        min_score: BM25 score the best hit must reach.
        min_coverage: Share of the query's key terms (idf-weighted) the best hit must contain;
            below it the question is treated as outside the shop's knowledge.
        fact_min_coverage: Once the best hit is relevant, weaker hits down to this coverage
            still go into the prompt as supporting facts.
    """

    min_score: float = 2.0
    min_coverage: float = 0.6
    fact_min_coverage: float = 0.4


@dataclass(slots=True)
class _Indexed:
    document: Document
    tf: Counter[str]
    length: int
    terms: frozenset[str] = field(default_factory=frozenset)


class Retriever:
    """Okapi BM25 (k1=1.5, b=0.75) over tokenised documents.

    Args:
        documents: What to index.
        thresholds: When a hit counts as relevant.
    """

    def __init__(
        self,
        documents: Iterable[Document],
        thresholds: RelevanceThresholds | None = None,
        k1: float = 1.5,
        b: float = 0.75,
        product_words: Iterable[str] = (),
    ) -> None:
        self.thresholds = thresholds or RelevanceThresholds()
        self._k1, self._b = k1, b
        self._docs: list[_Indexed] = []
        for document in documents:
            tokens = tokenize(document.index_text)
            self._docs.append(_Indexed(document, Counter(tokens), len(tokens), frozenset(tokens)))
        df: Counter[str] = Counter()
        for item in self._docs:
            df.update(item.terms)
        n = max(len(self._docs), 1)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        # A word no document has counts against coverage, but less than the rarest known
        # word: it may be the crux ("bitcoin") or filler ("different").
        self._unknown_idf = 0.75 * math.log(1 + (n + 0.5) / 0.5)
        self._avg_len = sum(i.length for i in self._docs) / n if self._docs else 1.0
        # Words the shop's FAQ, policies and profile use (words only products and promotions
        # use are names and specs: a policy that applies to every product need not repeat them).
        self._topic_words = frozenset(
            t for i in self._docs if i.document.kind in ("faq", "policy") for t in i.terms
        )
        # Words of product names, aliases, tags and categories: what a question is about,
        # not what it asks (a policy question's coverage leaves them out).
        names = [t for w in product_words for t in key_terms(w)]
        self._product_words = frozenset([*names, *(s for t in names for s in sub_words(t))])

    @classmethod
    def for_knowledge(
        cls, knowledge: Knowledge, thresholds: RelevanceThresholds | None = None
    ) -> Retriever:
        """Index a knowledge folder, teaching the segmenter its product words first."""
        add_words(
            w
            for p in knowledge.products
            for w in (p.name.zh, p.category_name.zh, *p.tags, *p.aliases)
        )
        names = (
            w
            for p in knowledge.products
            for w in (
                p.name.zh,
                p.name.en,
                p.category_name.zh,
                p.category_name.en,
                *p.tags,
                *p.aliases,
            )
        )
        return cls(documents_of(knowledge), thresholds, product_words=names)

    @property
    def documents(self) -> list[Document]:
        return [i.document for i in self._docs]

    def _expand(self, terms: Sequence[str]) -> list[str]:
        """Replace unknown Chinese compounds by their known parts ("优惠活动" -> 优惠, 活动)."""
        out: list[str] = []
        for term in terms:
            if term in self._idf or term.isascii():
                out.append(term)
                continue
            parts = [w for w in sub_words(term) if w in self._idf]
            if parts:
                out.extend(parts)
            elif len(term) > 1:
                out.append(term)  # an unknown word: counts against coverage
        return out

    def _missing(self, terms: Sequence[str], item: _Indexed) -> frozenset[str]:
        return frozenset(
            t for t in terms if t in self._topic_words and t not in item.terms and not _lone_cjk(t)
        )

    def _coverage(
        self, terms: Sequence[str], item: _Indexed, ignore_unknown: bool = False
    ) -> float:
        total = matched = 0.0
        for term in terms:
            if ignore_unknown and term not in self._idf:
                continue
            weight = self._idf.get(term, self._unknown_idf)
            total += weight
            if term in item.terms or (_lone_cjk(term) and any(term in t for t in item.terms)):
                matched += weight  # a lone Chinese character ("退") counts inside a word ("退换")
        return matched / total if total else 0.0

    def search(
        self,
        query: str,
        k: int = 3,
        kinds: frozenset[str] | None = None,
        ignore_unknown: bool = False,
        topic_only: bool = False,
    ) -> list[Hit]:
        """The ``k`` best documents for ``query`` (score > 0), best first.

        Args:
            query: Customer text.
            k: How many hits.
            kinds: Only these document kinds.
            ignore_unknown: Coverage ignores query words no document contains (for
                identifying a product, words like "国庆" or "today" are not about it).
            topic_only: Coverage ignores words only products and promotions use and the
                words of product names (for a policy question about a product: "can I
                return the bed I haven't opened" is about the returns policy).
        """
        tokens = tokenize(query)
        if not tokens:
            return []
        terms = self._expand(key_terms(query))
        if topic_only:
            terms = [
                t
                for t in terms
                if t in self._topic_words  # words no document has tell the story, not the ask
                and t not in PURCHASE_WORDS
                and t not in self._product_words
            ]
        scored: list[Hit] = []
        for item in self._docs:
            if kinds is not None and item.document.kind not in kinds:
                continue
            score = 0.0
            norm = self._k1 * (1 - self._b + self._b * item.length / self._avg_len)
            for token in tokens:
                tf = item.tf.get(token, 0)
                if tf:
                    score += self._idf[token] * tf * (self._k1 + 1) / (tf + norm)
            if score > 0:
                scored.append(
                    Hit(
                        item.document,
                        score,
                        self._coverage(terms, item, ignore_unknown),
                        self._missing(terms, item),
                    )
                )
        scored.sort(key=lambda h: (-h.score, h.document.source))
        return scored[:k]

    def is_relevant(self, hit: Hit) -> bool:
        return (
            hit.score >= self.thresholds.min_score and hit.coverage >= self.thresholds.min_coverage
        )

    def relevant(self, query: str, k: int = 3) -> list[Hit]:
        """Facts for ``query``: empty when none of the top ``k`` hits is relevant.

        Otherwise the relevant hits (best first), then weaker top-``k`` hits that still
        reach ``fact_min_coverage`` as supporting facts. A high-scoring hit that covers
        little of the question (one rare shared word) does not hide a relevant one.
        """
        hits = self.search(query, k)
        good = [h for h in hits if self.is_relevant(h)]
        if not good:
            return []
        floor = self.thresholds.fact_min_coverage
        support = [
            h
            for h in hits
            if h not in good and h.coverage >= floor and h.score >= self.thresholds.min_score
        ]
        return [*good, *support]


# "I bought", "我买的": how the customer came to have the item, not what they ask about.
PURCHASE_WORDS = frozenset(
    {"buy", "bought", "purchas", "purchase", "order", "买", "买了", "购买", "下单", "下的"}
)


def _lone_cjk(term: str) -> bool:
    return len(term) == 1 and not term.isascii()
