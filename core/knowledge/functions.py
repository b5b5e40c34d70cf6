"""The shop's tools as OpenAI functions, for engines that call functions themselves (a
Qwen-VL checkpoint or vLLM behind ``engine.kind: openai``).

The embedded model follows the brain's rules (tools first, in code); a capable model is
offered the same tools and chooses: ``lookup_order``, ``product_info``, ``search_knowledge``
and ``list_promotions``. Each call runs the same code the rules use (orders bound to the
asker's identity, one quote for several products, retrieval) and its result becomes a fact,
so the draft is grounded against what the functions returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from core.answering.bot import DraftGuard, Fact
from core.engines.base import ToolCall, ToolSpec
from core.knowledge.documents import body_for
from core.knowledge.intents import detect_intents
from core.knowledge.tools import ShopTools, ToolRequest

MAX_RESULT_CHARS = 2000


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    schema = {"type": "object", "properties": properties, "required": required}
    return ToolSpec(name, description, json.dumps(schema, ensure_ascii=False))


def _text(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


SPECS = (
    _spec(
        "lookup_order",
        "Status, items, total, shipping and refund of one of the customer's orders.",
        {"order_number": _text("The order number as the customer wrote it.")},
        ["order_number"],
    ),
    _spec(
        "product_info",
        "Price today (with promotions and totals), stock and specifications of products. "
        "Put every product, option and quantity the customer names in `question`.",
        {"question": _text("The customer's question about the products, in their words.")},
        ["question"],
    ),
    _spec(
        "search_knowledge",
        "Search the shop's policies, FAQ and promotions (shipping, returns, payment, hours).",
        {"query": _text("What to look for.")},
        ["query"],
    ),
    _spec("list_promotions", "The promotions running now and coming soon.", {}, []),
)


@dataclass(frozen=True, slots=True)
class ShopFunctions:
    """A :class:`~core.answering.bot.FunctionBox` over :class:`ShopTools` for one turn.

    Attributes:
        tools: The shop's tools.
        request: The turn as the tools see it (asker, language, date, history).
        guard_for: The brain's draft guard for the facts known so far.
    """

    tools: ShopTools
    request: ToolRequest
    guard_for: Callable[[tuple[Fact, ...]], DraftGuard]

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return SPECS

    def guard(self, facts: tuple[Fact, ...]) -> DraftGuard | None:
        return self.guard_for(facts)

    async def call(self, call: ToolCall) -> Fact:
        """Run one call. Unknown functions and bad arguments give a fact saying so."""
        try:
            arguments = json.loads(call.arguments_json or "{}")
        except ValueError:
            return Fact("function:error", f"{call.name}: arguments are not JSON; try again.")
        if not isinstance(arguments, dict):
            return Fact("function:error", f"{call.name}: arguments must be an object.")
        runner = {
            "lookup_order": self._order,
            "product_info": self._products,
            "search_knowledge": self._search,
            "list_promotions": self._promotions,
        }.get(call.name)
        if runner is None:
            return Fact("function:error", f"there is no function called {call.name!r}.")
        fact = await runner(arguments)
        return replace(fact, text=fact.text[:MAX_RESULT_CHARS])

    async def _order(self, arguments: dict[str, Any]) -> Fact:
        number = str(arguments.get("order_number", ""))
        numbers = self.tools.numbers.find(number)
        if not numbers:
            example = self.tools.shop.order_number_example
            return Fact("function:error", f"{number!r} is not an order number (like {example}).")
        outcome = await self.tools.run(replace(self.request, text=numbers[0], ocr_text=""))
        if outcome.handoff is not None or outcome.reply is None:
            return Fact("order:not-found", f"No order {numbers[0]} under this customer's account.")
        return Fact(f"order:{numbers[0]}", outcome.reply)

    async def _products(self, arguments: dict[str, Any]) -> Fact:
        question = str(arguments.get("question", ""))
        intents = detect_intents(question)
        if not (intents.price or intents.stock):
            intents = replace(intents, price=True)  # a product asked about: at least its price
        outcome = await self.tools.run(
            replace(self.request, text=question, ocr_text="", intents=intents)
        )
        if outcome.reply is None:
            return Fact("product:unknown", f"No product of this shop matches {question!r}.")
        return Fact(outcome.facts[0].source if outcome.facts else "product", outcome.reply)

    async def _search(self, arguments: dict[str, Any]) -> Fact:
        query = str(arguments.get("query", ""))
        hits = self.tools.base.retriever.relevant(query, 3)
        if not hits:
            return Fact("search:none", f"Nothing in the shop's knowledge about {query!r}.")
        body = "\n".join(body_for(h.document, self.request.language) for h in hits)
        return Fact(hits[0].document.source, body, hits[0].coverage)

    async def _promotions(self, arguments: dict[str, Any]) -> Fact:
        outcome = await self.tools.run(
            replace(
                self.request,
                text="",
                ocr_text="",
                intents=replace(self.request.intents, promotion=True),
            )
        )
        return Fact("promo:list", outcome.reply or "No promotions are running or coming.")
