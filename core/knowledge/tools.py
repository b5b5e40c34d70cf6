"""The tools the brain calls in code, not the model: orders, prices, stock, promotions.

Each tool turns a customer turn into facts (for the prompt and the grounding check) and,
when the facts fully answer the question, a templated reply in the customer's language.
Order lookups are bound to the asker's verified identity (:class:`~core.knowledge.orders.Asker`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from core.answering.bot import Fact, HandoffDecision
from core.knowledge.answers import order_fact, orders_overview, promotion_fact
from core.knowledge.base import KnowledgeBase
from core.knowledge.documents import body_for, quote_for
from core.knowledge.intents import ORDER_ACTION, Intents
from core.knowledge.linking import compact_with_map
from core.knowledge.model import Order, OrderStatus, Product, Promotion
from core.knowledge.options import chosen_variants
from core.knowledge.ordernumbers import OrderNumbers
from core.knowledge.orders import Asker
from core.knowledge.passages import AnswerKind, states
from core.knowledge.productfacts import promotion_state
from core.knowledge.products import Asked, ProductReader, follow_up_intents
from core.knowledge.quantities import find_quantities, only_count
from core.knowledge.specwords import asked_specs, asks_warranty
from core.knowledge.textproc import normalise, tokenize
from core.model.decision import HandoffKind
from core.texts import Language

OPEN_STATUSES = frozenset(
    {
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.PAID,
        OrderStatus.PROCESSING,
        OrderStatus.SHIPPED,
        OrderStatus.RETURN_REQUESTED,
    }
)
MAX_ORDERS = 3
TIMED = AnswerKind.DURATION
POLICY_KINDS = frozenset({"faq", "policy"})
# How far ahead of every other document a promotion must be to be the one asked about.
PROMOTION_DOMINANCE = 2.0


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What the tools made of a turn.

    Attributes:
        facts: Tool results (always given to the model and to the grounding check).
        reply: A complete templated answer, when the tools answered the question.
        handoff: Set when the turn must go to a person (an order the asker cannot see).
        products: Products the turn refers to.
    """

    facts: tuple[Fact, ...] = ()
    reply: str | None = None
    handoff: HandoffDecision | None = None
    products: tuple[Product, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """One turn as the tools see it (``history``: the customer's earlier messages, oldest first)."""

    text: str
    ocr_text: str
    intents: Intents
    asker: Asker
    language: Language
    today: date
    has_images: bool = False
    history: tuple[str, ...] = ()


FOLLOW_UP = re.compile(r"^\s*(?:and|what about|how about|then|那|那么|还有)|呢[?？]?\s*$", re.I)


class ShopTools:
    """Runs the tools against one :class:`KnowledgeBase` snapshot.

    Args:
        base: The loaded shop (its order-number format comes from shop.yaml).
    """

    def __init__(self, base: KnowledgeBase) -> None:
        self.base = base
        self.shop = base.knowledge.shop
        self.numbers = OrderNumbers(self.shop.order_number_pattern)
        self.products = ProductReader(base.knowledge, base.linker, base.catalog)

    async def run(self, request: ToolRequest) -> ToolOutcome:
        """Orders first (a number in the text or the screenshot), then products, then promotions."""
        numbers = self.numbers.find(request.text) + self.numbers.find(request.ocr_text)
        if numbers:
            return await self._orders(list(dict.fromkeys(numbers)), request)
        asked, intents = self._asked(request)
        named = named_promotions(self.base.knowledge.promotions, request.text)
        if not named and not asked:
            named = self._promotion_described(request.text)
        if asked and intents.promotion and not (intents.price or intents.stock):
            # "Any deal on X and Y together?": their quote today states every deal that applies.
            intents = replace(intents, price=True)
        if asked and intents.order_status and not intents.order_action:
            # "我买的空气炸锅发货了吗", "我刚下的孕妇枕那单要付多少": the asker's order of it.
            holding = _holding(await self.base.orders.mine(request.asker), asked)
            if holding:
                return self._orders_outcome(request, holding)
        if asked:
            answered = self._product_answer(asked, intents, request)
            if answered.reply is None and intents.order_status and not intents.order_action:
                return await self._my_orders(request, asked)
            if answered.reply is not None or not named:
                return self._with_promotions(answered, named, request)
        if named:
            return self._with_promotions(ToolOutcome(), named, request)
        if intents.order_status and not intents.order_action:
            # "Where is my order?" -> the asker's orders; "Can I cancel my order?" is a policy question.
            return await self._my_orders(request)
        if intents.promotion and not asked:
            return self._promotions(request)
        return ToolOutcome()

    def _promotion_described(self, text: str) -> list[Promotion]:
        """The promotion a question describes without its full name ("the spend and save
        offer", "满减那个活动"): the one that retrieval finds far ahead of anything else."""
        hits = self.base.retriever.search(text, 2)
        if not hits or hits[0].document.kind != "promotion":
            return []
        best, runner_up = hits[0], (hits[1].score if len(hits) > 1 else 0.0)
        thresholds = self.base.retriever.thresholds
        clear = (
            self.base.retriever.is_relevant(best)
            and best.score >= PROMOTION_DOMINANCE * runner_up
            and best.coverage >= thresholds.min_coverage
        )
        if not clear:
            return []
        return [p for p in self.base.knowledge.promotions if p.source == best.document.source]

    def _asked(self, request: ToolRequest) -> tuple[list[Asked], Intents]:
        """The products the turn asks about: named in the text, on the photo, or (for a
        follow-up) the ones the conversation last discussed."""
        intents = request.intents
        reader = self.products
        text = request.text
        earlier = (
            [m.product for m in reader.mentions(request.history[-1])] if request.history else []
        )
        mentions = reader.mentions(text, earlier)
        if mentions and all(m.how == "search" for m in mentions) and request.history:
            # "那4.2升的呢": a loose catalog match loses to the product just discussed.
            previous = reader.from_history(request.history, text)
            if previous and _continues(text, previous):
                return previous, follow_up_intents(intents, request.history)
        asked = reader.read(text, mentions) if mentions else []
        if request.ocr_text:
            asked += self._on_photo(request, {a.product.sku for a in asked})
        if asked:
            return asked, intents
        if request.history and text.strip():
            previous = reader.from_history(request.history, text)
            if previous and _asks_their_specs(text, intents, previous):
                return previous, intents  # "can I use it at night?" about the last product
            if previous and _continues(text, previous):
                return previous, follow_up_intents(intents, request.history)
        return [], intents

    def _on_photo(self, request: ToolRequest, known: set[str]) -> list[Asked]:
        """Products on a photographed tag or label (exact names and SKUs only: OCR is noisy),
        with the options on the label or in the words, and the count in the words."""
        reader = self.products
        on_photo = [
            m
            for m in reader.mentions(request.ocr_text)
            if m.how not in ("typo", "search") and m.product.sku not in known
        ]
        if not on_photo:
            return []
        both = normalise(f"{request.text}\n{request.ocr_text}")
        asked = [
            replace(a, variants=a.variants or chosen_variants(both, a.product))
            for a in reader.read(request.ocr_text, on_photo)
        ]
        count = only_count(find_quantities(request.text))
        if len(asked) == 1 and not known and count:
            asked = [replace(asked[0], quantity=count)]
        return asked

    def _product_answer(
        self, asked: Sequence[Asked], intents: Intents, request: ToolRequest
    ) -> ToolOutcome:
        photo_only = request.has_images and not request.text.strip()
        answer = self.products.answer(
            asked, request.text, intents, request.today, request.language, photo_only
        )
        if answer is None:  # an open question about the product: retrieval and the model
            return ToolOutcome(products=tuple(a.product for a in asked))
        facts, reply = answer.facts, answer.reply
        if any(f.source.startswith("stock:") for f in facts) and _undated_gap(asked):
            restock = self._restock_note(request)
            if restock is not None:
                facts, reply = (*facts, restock), f"{reply}\n{restock.text}"
        return ToolOutcome(facts=facts, reply=reply, products=answer.products)

    def _restock_note(self, request: ToolRequest) -> Fact | None:
        """What the shop says about restocking in general (FAQ or policy), for a variant that
        is out of stock without a restock date."""
        hits = [
            h
            for h in self.base.retriever.relevant(RESTOCK_QUERY)
            if h.document.kind in ("faq", "policy")
        ]
        if not hits:
            return None
        return Fact(hits[0].document.source, quote_for(hits[0].document, request.language))

    def _with_promotions(
        self, outcome: ToolOutcome, named: Sequence[Promotion], request: ToolRequest
    ) -> ToolOutcome:
        if not named:
            return outcome
        facts = tuple(
            Fact(p.source, promotion_state(p, request.today, request.language)) for p in named
        )
        lines = [f.text for f in facts] + ([outcome.reply] if outcome.reply else [])
        return ToolOutcome(
            facts=(*facts, *outcome.facts), reply="\n".join(lines), products=outcome.products
        )

    async def _orders(self, numbers: Sequence[str], request: ToolRequest) -> ToolOutcome:
        found: list[Order] = []
        for number in numbers[:MAX_ORDERS]:
            order = await self.base.orders.find(number, request.asker)
            if order is not None:
                found.append(order)
        if not found:
            # Unknown and not-yours look the same to the customer; staff see the reason.
            reason = f"order number {', '.join(numbers)} not found for {request.asker.identity.platform} user {request.asker.identity.user_id}"
            return ToolOutcome(handoff=HandoffDecision((reason,), HandoffKind.ORDER_NOT_FOUND))
        facts = tuple(
            Fact(f"order:{o.order_no}", order_fact(o, self.shop, request.language)) for o in found
        )
        lines = [f.text for f in facts]
        missing = [n for n in numbers if n not in {o.order_no for o in found}]
        if missing:
            lines.append(
                f"在您的账户下没有找到订单{'、'.join(missing)}。"
                if request.language == "zh"
                else f"I could not find order {', '.join(missing)} under your account."
            )
        extra = self._policy_follow_up(request) if request.intents.order_action else ()
        facts += extra
        lines.extend(f.text for f in extra)
        return ToolOutcome(facts=facts, reply="\n".join(lines))

    def _policy_follow_up(self, request: ToolRequest) -> tuple[Fact, ...]:
        """For "I want to return order X": the two best policy/FAQ passages, after the order."""
        query = request.text
        for match in self.numbers.candidates.finditer(query.upper()):
            query = query.replace(query[match.start() : match.end()], " ")
        # The order is known, so a passage about the action asked for is enough ("too late
        # to return" need not match "late"); one that only shares "order" is not.
        retriever = self.base.retriever
        actions = set(
            tokenize(" ".join(m.group() for m in ORDER_ACTION.finditer(normalise(query))))
        )
        hits = [
            h
            for h in retriever.search(query, 4, POLICY_KINDS)
            if retriever.is_relevant(h)
            or (
                h.score >= retriever.thresholds.min_score
                and actions & set(tokenize(h.document.index_text))
            )
        ]
        # Beside an order with its dates, the passage that says how long (a return window,
        # a repair period) is the one that answers "can I still ...".
        hits.sort(key=lambda h: not states(body_for(h.document, request.language), TIMED))
        return tuple(
            Fact(h.document.source, body_for(h.document, request.language), h.coverage)
            for h in hits[:2]
        )

    async def _my_orders(self, request: ToolRequest, asked: Sequence[Asked] = ()) -> ToolOutcome:
        """The asker's open orders (or the latest); those holding ``asked`` when any do."""
        mine = await self.base.orders.mine(request.asker)
        return self._orders_outcome(request, _holding(mine, asked) or mine)

    def _orders_outcome(self, request: ToolRequest, mine: Sequence[Order]) -> ToolOutcome:
        """The reply listing ``mine`` (the open ones), or asking for a number if there are none."""
        if not mine:
            example = self.shop.order_number_example
            reply = (
                f"您的账户下暂时没有找到订单。请发送订单号（例如{example}）或订单截图，我来帮您查询。"
                if request.language == "zh"
                else f"I could not find any orders under this account. Please send your order number (for example {example}) or a screenshot of the order."
            )
            # The example comes from shop.yaml: a fact, so the reply's number is grounded.
            return ToolOutcome(facts=(Fact("shop:order-number-example", example),), reply=reply)
        shown = [o for o in mine if o.status in OPEN_STATUSES][:MAX_ORDERS] or mine[:1]
        facts = tuple(
            Fact(f"order:{o.order_no}", order_fact(o, self.shop, request.language)) for o in shown
        )
        return ToolOutcome(facts=facts, reply=orders_overview(shown, self.shop, request.language))

    def _promotions(self, request: ToolRequest) -> ToolOutcome:
        """ "Any deals?": the promotions running now and coming, with today's date."""
        today = request.today
        promos = [p for p in self.base.knowledge.promotions if not p.has_ended(today)]
        if not promos:
            return ToolOutcome()
        facts = tuple(
            Fact(p.source, promotion_fact(p, self.shop, request.language, today)) for p in promos
        )
        facts = (Fact("clock:today", f"today {today}"), *facts)
        head = (
            f"今天是{today}，店铺的优惠活动如下："
            if request.language == "zh"
            else f"As of {today}:"
        )
        return ToolOutcome(facts=facts, reply="\n".join([head, *(f.text for f in facts[1:])]))


# General words for "when does it come back", to find the shop's own restocking note.
RESTOCK_QUERY = "什么时候补货 到货通知 restock back in stock"


def _holding(orders: Sequence[Order], asked: Sequence[Asked]) -> list[Order]:
    """The orders with a line of one of the ``asked`` products."""
    skus = {a.product.sku for a in asked}
    return [o for o in orders if any(i.product_sku in skus for i in o.items)]


def _undated_gap(asked: Sequence[Asked]) -> bool:
    """Some asked variant is out of stock and the shop gives no date for it."""
    return any(
        not v.stock and a.product.restock_of(v) is None
        for a in asked
        for v in (a.variants or a.product.variants)
    )


# Words that point back at what the conversation last named.
_POINTS_BACK = re.compile(
    r"\b(?:it|its|they|them|this one|that one|these|those)\b|它|这个|那个|这款|那款"
)


def _asks_their_specs(text: str, intents: Intents, previous: Sequence[Asked]) -> bool:
    """A short message without a product, price or stock question that asks about a spec
    of the product the conversation last named."""
    limit = 12 if _POINTS_BACK.search(normalise(text)) else 6  # "does it ...": the last one
    if intents.price or intents.stock or len(tokenize(text)) > limit:
        return False
    warranty = asks_warranty(text)
    return any(
        asked_specs(text, a.product) or (warranty and a.product.warranty is not None)
        for a in previous
    )


def _continues(text: str, previous: Sequence[Asked]) -> bool:
    """Whether a message without a product continues the last product question: it reads
    as "and ...?" / "那…呢", or it names a count or an option of that product."""
    if FOLLOW_UP.search(text) is not None:
        return True
    if len(tokenize(text)) > 4:
        return False
    named_option = any(chosen_variants(normalise(text), a.product) for a in previous)
    return named_option or bool(find_quantities(text))


def named_promotions(promotions: Sequence[Promotion], text: str) -> list[Promotion]:
    """Promotions the text names (by name or alias, spaces and case ignored)."""
    compact = compact_with_map(normalise(text))[0]
    named = []
    for promo in promotions:
        forms = {promo.name.zh, promo.name.en, *promo.aliases}
        for form in forms:
            key = compact_with_map(normalise(form))[0]
            if len(key) >= 2 and key in compact and (not key.isascii() or len(key) >= 3):
                named.append(promo)
                break
    return named
