"""Questions about products: which ones, which variants, how many, and what is asked
(price, stock, specification, warranty), answered together in one reply.

Several products in one message are priced in one quote, so the total and the order deals
come out right ("the tent and the stove together"). A follow-up that names no product
("and in size L?", "那买三个多少钱") is about the product the conversation last discussed,
and asks what the last question asked unless it says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from core.answering.bot import Fact
from core.knowledge.catalog import Catalog
from core.knowledge.intents import Intents, detect_intents
from core.knowledge.linking import Mention, ProductLinker
from core.knowledge.model import Knowledge, Product, Variant
from core.knowledge.options import blank_spans, chosen_variants, options_named, variant_lines
from core.knowledge.pricing import quote
from core.knowledge.productfacts import quote_text, spec_text, stock_text
from core.knowledge.quantities import (
    PHRASE_BREAK,
    Quantity,
    each_count,
    find_quantities,
    only_count,
    quantity_near,
)
from core.knowledge.specwords import asked_specs, asks_warranty, named_specs
from core.knowledge.textproc import normalise
from core.texts import Language

MAX_PRODUCTS = 4
_CLAUSE_BREAK = re.compile(rf"{PHRASE_BREAK}|以及|另外")
# Asking what several things cost together: each named value is one of them.
_TOTAL = re.compile(r"\btogether\b|\btotal\b|\baltogether\b|\bin all\b|一共|总共|合计|加起来|一起")


@dataclass(frozen=True, slots=True)
class Asked:
    """One product a message asks about, the variants it names and how many."""

    product: Product
    variants: tuple[Variant, ...]
    quantity: int


@dataclass(frozen=True, slots=True)
class ProductAnswer:
    facts: tuple[Fact, ...]
    reply: str | None
    products: tuple[Product, ...]


def _regions(text: str, mentions: Sequence[Mention]) -> list[tuple[int, int]]:
    """For each mention, the clauses it sits in (its options and count are written there):
    from the first to the last clause naming it the same way ("小号磨牙球、大号磨牙球")."""
    if len(mentions) == 1:
        return [(0, len(text))]
    breaks = [0, *(m.start() for m in _CLAUSE_BREAK.finditer(text)), len(text)]
    regions = []
    for mention in mentions:
        surface = text[mention.start : mention.end]
        last = max((m.end() for m in re.finditer(re.escape(surface), text)), default=mention.end)
        start = max(b for b in breaks if b <= mention.start)
        end = min(b for b in breaks if b >= max(last, mention.end))
        regions.append((start, end))
    return regions


class ProductReader:
    """Reads product questions against one shop's catalog."""

    def __init__(self, knowledge: Knowledge, linker: ProductLinker, catalog: Catalog) -> None:
        self.knowledge = knowledge
        self.linker = linker
        self.catalog = catalog

    def mentions(self, text: str, context: Sequence[Product] = ()) -> list[Mention]:
        """Products named in ``text``; a name that is an option value of another product
        named there, or of one the conversation (``context``) is about ("the jam,
        apricot"), is that option, not a product. Without a name, a clear search
        match of the catalog's names, categories and tags ("帆布鞋")."""
        found = self.linker.link(text)
        if not found and not context:
            found = self._by_options(text)  # two options named outrank a loose search match
        if not found:
            found = [Mention(m.product, 0, 0, "search") for m in self.catalog.by_search(text)[:1]]
        normal = normalise(text)
        kept = []
        for mention in found:
            words = normal[mention.start : mention.end]
            others = [m.product for m in found if m is not mention] + list(context)
            if any(_is_option_value(words, p) for p in others):
                continue
            kept.append(mention)
        return kept[:MAX_PRODUCTS]

    def _by_options(self, text: str) -> list[Mention]:
        """A product named only by its options ("M码112片的买两包"): the one product of
        which the text names values of two options or more, ahead of every other."""
        named = sorted(
            ((options_named(text, p), p.sku, p) for p in self.knowledge.products),
            key=lambda item: (-item[0], item[1]),
        )
        if not named or named[0][0] < 2 or (len(named) > 1 and named[1][0] >= named[0][0]):
            return []
        return [Mention(named[0][2], 0, 0, "search")]

    def read(self, text: str, mentions: Sequence[Mention]) -> list[Asked]:
        """Each mentioned product with the variants and count written next to it; a product
        whose values are named with counts of their own ("原味3包、绿茶味3包", "小号、大号各一个")
        is one line per value."""
        normal = normalise(text)
        quantities = find_quantities(normal)
        single = only_count(quantities) if len(mentions) == 1 else None
        each = each_count(normal)
        spans = [(m.start, m.end) for m in mentions]
        asked = []
        for mention, (start, end) in zip(mentions, _regions(normal, mentions), strict=True):
            clause = blank_spans(normal, spans)[start:end]
            lines = self._lines(mention.product, clause, start, normal, quantities, each)
            if lines:
                asked += lines
                continue
            variants = chosen_variants(clause, mention.product)
            count = quantity_near(quantities, normal, mention.start, mention.end)
            asked.append(Asked(mention.product, variants, count or each or single or 1))
        return asked

    @staticmethod
    def _lines(
        product: Product,
        clause: str,
        offset: int,
        normal: str,
        quantities: Sequence[Quantity],
        each: int | None,
    ) -> list[Asked]:
        """One line per option value when every value named has its own count (or the
        message counts each: "各一个"); [] otherwise ("原味还是绿茶" asks about both)."""
        lines = variant_lines(clause, product)
        counts = [
            quantity_near(list(quantities), normal, offset + s, offset + e) for (s, e), _ in lines
        ]
        if not lines or (each is None and not all(counts) and not _TOTAL.search(normal)):
            return []
        return [
            Asked(product, variants, count or each or 1)
            for (_, variants), count in zip(lines, counts, strict=True)
        ]

    def from_history(self, texts: Sequence[str], current: str) -> list[Asked]:
        """A follow-up's products: those of the latest earlier message that named one, with
        the variants and count of the current message where it names them."""
        for earlier in reversed(texts):
            mentions = self.mentions(earlier)
            if not mentions:
                continue
            previous = self.read(earlier, mentions)
            quantities = find_quantities(current)
            count = only_count(quantities) or next((q.value for q in quantities), None)
            out = []
            for item in previous:
                named = chosen_variants(normalise(current), item.product)
                variants = _keep_earlier_choices(named, item) if named else item.variants
                out.append(Asked(item.product, variants, count or 1))
            return out
        return []

    def answer(
        self,
        asked: Sequence[Asked],
        text: str,
        intents: Intents,
        today: date,
        language: Language,
        price_and_stock: bool = False,
    ) -> ProductAnswer | None:
        """Price, stock and spec answers for ``asked``; None when nothing asked is known.

        ``price_and_stock``: answer both (a photo of a tag sent without words).
        """
        facts: list[Fact] = []
        if intents.price or price_and_stock:
            facts.append(self._price(asked, today, language))
        # "How many ports does it have" counts a feature, not the stock.
        wants_stock = (
            intents.stock
            and not intents.price
            and (_names_stock(text) or not any(named_specs(text, a.product) for a in asked))
        )
        if wants_stock or price_and_stock or _asks_stock_too(text, intents):
            facts += [
                Fact(f"stock:{a.product.sku}", stock_text(a.product, a.variants, today, language))
                for a in asked
            ]
        if not facts:
            facts += self._specs(asked, text, language)
        if not facts:
            return None
        reply = "\n".join(f.text for f in facts)
        return ProductAnswer(tuple(facts), reply, tuple(a.product for a in asked))

    def _price(self, asked: Sequence[Asked], today: date, language: Language) -> Fact:
        items: list[tuple[Product, Variant | None, int]] = []
        lists: list[str] = []
        for a in asked:
            pool = a.variants or a.product.variants
            prices = {a.product.regular_price(v) for v in pool}
            if len(prices) == 1 or len(asked) > 1 or a.quantity > 1:
                items.append((a.product, pool[0] if pool else None, a.quantity))
            else:  # no variant named and they cost different amounts: each one's price
                each = [quote([(a.product, v, 1)], self.knowledge.promotions, today) for v in pool]
                labels = frozenset(v.sku for v in pool)
                lists += [quote_text(q, self.knowledge.shop, language, labels) for q in each]
        parts = lists
        named = frozenset(v.sku for a in asked if len(a.variants) == 1 for v in a.variants)
        if items:
            q = quote(items, self.knowledge.promotions, today)
            parts = [quote_text(q, self.knowledge.shop, language, named), *lists]
        sku = "+".join(a.product.sku for a in asked)
        return Fact(f"price:{sku}", "\n".join(parts))

    def _specs(self, asked: Sequence[Asked], text: str, language: Language) -> list[Fact]:
        facts = []
        warranty = asks_warranty(text)
        for a in asked:
            if warranty and a.product.warranty is None:
                continue  # the shop's warranty policy answers it
            specs = [] if warranty else asked_specs(text, a.product)
            if specs or (warranty and a.product.warranty is not None):
                body = spec_text(a.product, specs, warranty, language)
                facts.append(Fact(f"spec:{a.product.sku}", body))
        return facts


def _keep_earlier_choices(named: Sequence[Variant], earlier: Asked) -> tuple[Variant, ...]:
    """The variants a follow-up names, keeping what the earlier question chose on the options
    the follow-up leaves open ("2.5升藏青色" then "那4.2升的呢": 4.2 L in navy)."""
    kept = tuple(named)
    for option in earlier.product.options:
        before = {v.option(option) for v in earlier.variants}
        now = {v.option(option) for v in kept}
        if len(before) == 1 and len(now) > 1:
            kept = tuple(v for v in kept if v.option(option) in before) or kept
    return kept


def _asks_stock_too(text: str, intents: Intents) -> bool:
    return (
        intents.stock
        and intents.price
        and bool(re.search(r"库存|有货|in stock|available", normalise(text)))
    )


# Words that ask about stock whatever else the message names.
EXPLICIT_STOCK = re.compile(
    r"库存|有货|现货|缺货|售罄|卖完|补货|到货|断货|还有吗|还剩|in stock|available|sold out|restock|"
    r"\bleft\b|do you (?:still )?(?:have|sell|carry)|\bdo (?:u|ya) have\b|\bsizes?\b|尺码|颜色|colou?rs?"
)


def _names_stock(text: str) -> bool:
    return EXPLICIT_STOCK.search(normalise(text)) is not None


def _is_option_value(words: str, product: Product) -> bool:
    compact = re.sub(r"[\s\-]+", "", words)
    for variant in product.variants:
        for option in variant.options:
            for value in (option.value.en, option.value.zh):
                if compact and re.sub(r"[\s\-]+", "", normalise(value)) == compact:
                    return True
    return False


def follow_up_intents(current: Intents, earlier_texts: Sequence[str]) -> Intents:
    """A follow-up that asks nothing itself ("and in black?") asks what the last question did."""
    if current.price or current.stock:
        return current
    for earlier in reversed(earlier_texts):
        previous = detect_intents(earlier)
        if previous.price or previous.stock:
            return Intents(price=previous.price, stock=previous.stock, quantity=current.quantity)
    return current
