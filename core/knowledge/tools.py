"""The tools the brain calls in code, not the model: orders, prices, stock, promotions.

Each tool turns a customer turn into facts (for the prompt and the grounding check) and,
when the facts fully answer the question, a templated reply in the customer's language.
Order lookups are bound to the asker's verified identity (:class:`~core.knowledge.orders.Asker`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from core.answering.bot import Fact, HandoffDecision
from core.knowledge.answers import (
    order_fact,
    orders_overview,
    price_fact,
    product_fact,
    promotion_fact,
    stock_fact,
)
from core.knowledge.base import KnowledgeBase
from core.knowledge.catalog import ProductMatch, colours_in, sizes_in
from core.knowledge.intents import Intents
from core.knowledge.model import Order, OrderStatus
from core.knowledge.ordernumbers import OrderNumbers, find_order_numbers
from core.knowledge.orders import Asker
from core.knowledge.pricing import quote
from core.knowledge.retrieval import body_for
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
MAX_PRODUCTS = 3


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
    products: tuple[ProductMatch, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """One turn as the tools see it."""

    text: str
    ocr_text: str
    intents: Intents
    asker: Asker
    language: Language
    today: date
    has_images: bool = False


class ShopTools:
    """Runs the tools against one :class:`KnowledgeBase` snapshot.

    Args:
        base: The loaded shop.
        order_prefix: The shop's order-number prefix (``SO``).
    """

    def __init__(self, base: KnowledgeBase, order_prefix: str = "SO") -> None:
        self.base = base
        self.shop = base.knowledge.shop
        self.prefix = order_prefix
        self.numbers = OrderNumbers(self.shop.order_number_pattern)  # shop.yaml's own form

    async def run(self, request: ToolRequest) -> ToolOutcome:
        """Orders first (a number in the text or the screenshot), then products, then promotions."""
        numbers = find_order_numbers(request.text, self.prefix) + find_order_numbers(
            request.ocr_text, self.prefix
        )
        numbers += self.numbers.find(request.text) + self.numbers.find(request.ocr_text)
        if numbers:
            return await self._orders(list(dict.fromkeys(numbers)), request)
        if request.intents.order_status and not request.intents.order_action:
            # "Where is my order?" -> the asker's orders; "Can I cancel my order?" is a policy question.
            return await self._my_orders(request)
        intents = request.intents
        products = (
            self._products(request)
            if (intents.price or intents.stock or intents.promotion or request.has_images)
            else []
        )
        if products:
            return self._product_answer(products, request)
        if request.intents.promotion:
            return self._promotions(request, products)
        return ToolOutcome()

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
        for number in find_order_numbers(query, self.prefix):
            query = query.replace(number, " ")
        hits = [
            h for h in self.base.retriever.relevant(query) if h.document.kind in ("faq", "policy")
        ]
        return tuple(
            Fact(h.document.source, body_for(h.document, request.language), h.coverage)
            for h in hits[:2]
        )

    async def _my_orders(self, request: ToolRequest) -> ToolOutcome:
        mine = await self.base.orders.mine(request.asker)
        if not mine:
            reply = (
                "您的账户下暂时没有找到订单。请发送订单号（以SO开头）或订单截图，我来帮您查询。"
                if request.language == "zh"
                else "I could not find any orders under this account. Please send your order number (it starts with SO) or a screenshot of the order."
            )
            return ToolOutcome(reply=reply)
        shown = [o for o in mine if o.status in OPEN_STATUSES][:MAX_ORDERS] or mine[:1]
        facts = tuple(
            Fact(f"order:{o.order_no}", order_fact(o, self.shop, request.language)) for o in shown
        )
        return ToolOutcome(facts=facts, reply=orders_overview(shown, self.shop, request.language))

    def _products(self, request: ToolRequest) -> list[ProductMatch]:
        catalog = self.base.catalog
        found = catalog.find(request.text) if request.text.strip() else []
        if not found and request.ocr_text:
            # A price tag or label: trust exact SKUs and names only, not fuzzy OCR matches.
            found = catalog.by_sku(request.ocr_text) or catalog.by_name(request.ocr_text)
        return found[:MAX_PRODUCTS]

    def _product_answer(
        self, products: Sequence[ProductMatch], request: ToolRequest
    ) -> ToolOutcome:
        intents = request.intents
        promotions = self.base.knowledge.promotions
        if intents.promotion and len(products) > 1 and not intents.stock:
            return self._promotions(request, products)
        photo_only = request.has_images and not request.text.strip()
        want_price = intents.price or photo_only
        want_stock = intents.stock or photo_only
        facts: list[Fact] = []
        for match in products:
            product = match.product
            qty = intents.quantity if len(products) == 1 else 1
            q = quote([(product, qty)], promotions, request.today)
            if want_price:
                facts.append(
                    Fact(f"price:{product.sku}", price_fact(q, self.shop, request.language))
                )
            if want_stock:
                # Sizes the customer names win; else the size on a photographed label.
                sizes = sizes_in(request.text, product) or sizes_in(request.ocr_text, product)
                colours = colours_in(request.text, product)
                facts.append(
                    Fact(
                        f"stock:{product.sku}",
                        stock_fact(product, sizes, colours, request.language),
                    )
                )
            if not (want_price or want_stock):
                facts.append(
                    Fact(product.source, product_fact(product, q, self.shop, request.language))
                )
        reply = "\n".join(f.text for f in facts) if (want_price or want_stock) else None
        return ToolOutcome(facts=tuple(facts), reply=reply, products=tuple(products))

    def _promotions(self, request: ToolRequest, products: Sequence[ProductMatch]) -> ToolOutcome:
        today = request.today
        promos = [p for p in self.base.knowledge.promotions if p.ends >= today]
        if products:
            promos = [p for p in promos if any(p.applies_to(m.product) for m in products)]
        if not promos:
            return ToolOutcome()
        facts = tuple(
            Fact(p.source, promotion_fact(p, self.shop, request.language, today)) for p in promos
        )
        facts = (Fact("clock:today", f"today {today}"), *facts)
        head = f"今天是{today}，" if request.language == "zh" else f"As of {today}:"
        zh_head = head + "店铺的优惠活动如下："
        reply = "\n".join(
            [zh_head if request.language == "zh" else head, *(f.text for f in facts[1:])]
        )
        return ToolOutcome(facts=facts, reply=reply, products=tuple(products))
