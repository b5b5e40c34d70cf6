"""The staff assistant's brain: shop facts for the people behind the bot.

Staff turns (``Role.STAFF``, typically from Slack) may look up ANY order by number (from
the text or a screenshot) and any customer's orders by platform identity ("telegram 1001");
they get the facts plus who the customer is. Nothing is ever handed off (staff are the
people a handoff reaches); unknown questions get a plain "nothing found".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from bots.shop.brain import load_shop
from core.answering.bot import Assessment, Fact, Prepared, TurnContext
from core.knowledge.answers import order_fact
from core.knowledge.brain import KnowledgeBrain, OcrReading
from core.knowledge.model import Identity, Order
from core.knowledge.ordernumbers import OrderNumbers, find_order_numbers
from core.knowledge.orders import Asker
from core.model.turn import Confidence, Role, Turn
from core.texts import Language, detect_language

BOT_FILE = Path(__file__).with_name("bot.yaml")
CUSTOMER_REF = re.compile(r"\b(telegram|slack|webhook:[\w.-]+)\s*[:#]?\s*([\w.@-]+)", re.IGNORECASE)
NOTHING_FOUND: dict[Language, str] = {
    "en": "Nothing in the shop's knowledge or orders matches that.",
    "zh": "店铺资料和订单里没有找到相关内容。",
}


class StaffBrain(KnowledgeBrain):
    """Answers staff with facts; every order is visible; never hands off."""

    def _asker(self, turn: Turn) -> Asker:
        # Only a turn the adapter marked as staff gets staff rights; anything else is a customer.
        return Asker(Identity(turn.key.channel, turn.sender.user_id), turn.sender.role)

    async def prepare(self, turn: Turn, context: TurnContext) -> Prepared:
        ocr_text = await self.read_photos(turn)
        language = detect_language(turn.text or ocr_text)
        if turn.sender.role is Role.STAFF:
            facts = await self._order_facts(turn.text, ocr_text, language)
            if facts:
                return Prepared(
                    (), facts, direct_reply="\n".join(f.text for f in facts), ocr_text=ocr_text
                )
        prepared = await super().prepare(turn, context)
        if prepared.handoff is not None:  # e.g. nothing relevant: say so instead
            return Prepared(
                (), prepared.facts, direct_reply=NOTHING_FOUND[language], ocr_text=ocr_text
            )
        return prepared

    async def _order_facts(self, text: str, ocr_text: str, language: Language) -> tuple[Fact, ...]:
        base = self.holder.current
        staff = Asker(Identity("staff", "staff"), Role.STAFF)
        orders: list[Order] = []
        shop_form = OrderNumbers(base.knowledge.shop.order_number_pattern)  # shop.yaml's own
        for number in dict.fromkeys(
            find_order_numbers(text, self.config.orders.prefix)
            + find_order_numbers(ocr_text, self.config.orders.prefix)
            + shop_form.find(text)
            + shop_form.find(ocr_text)
        ):
            order = await base.orders.find(number, staff)
            if order is None:
                return (
                    Fact(
                        f"order:{number}",
                        f"订单{number}不存在。"
                        if language == "zh"
                        else f"Order {number} does not exist.",
                    ),
                )
            orders.append(order)
        for platform, user_id in CUSTOMER_REF.findall(text):
            orders.extend(
                await base.orders.mine(Asker(Identity(platform.lower(), user_id), Role.CUSTOMER))
            )
        return tuple(
            Fact(
                f"order:{o.order_no}",
                f"{order_fact(o, base.knowledge.shop, language)} {self._customer(o, language)}",
            )
            for o in orders
        )

    def _customer(self, order: Order, language: Language) -> str:
        customers = {c.id: c for c in self.holder.current.knowledge.customers}
        customer = customers.get(order.customer_id)
        name = customer.name if customer else order.customer_id
        ids = ", ".join(sorted(f"{i.platform}:{i.user_id}" for i in order.identities))
        return (
            f"（顾客{order.customer_id} {name}，{ids}）"
            if language == "zh"
            else f"(customer {order.customer_id} {name}, {ids})"
        )

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, logprob_confidence: Confidence
    ) -> Assessment:
        return Assessment(self.score(turn, prepared, answer, logprob_confidence), None)


def build_brain(
    settings: Any = None,
    *,
    ocr: OcrReading | None,
    clock: Callable[[], date] | None = None,
    knowledge_dir: Path | None = None,
) -> StaffBrain:
    """Build the staff brain (same knowledge folder as the shop unless overridden)."""
    configured = getattr(getattr(settings, "bot", None), "knowledge_dir", None)
    folder = knowledge_dir or (Path(configured) if configured else None)
    config, holder = load_shop(BOT_FILE, folder)
    return StaffBrain(config, holder, ocr=ocr, clock=clock)
