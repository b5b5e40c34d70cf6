"""A shop brain driven by a knowledge folder: tools first, retrieval next, the model last.

``prepare`` reads the photos (OCR, cached), applies the pre-answer handoff rules, runs the
tools (orders bound to the asker's identity, prices, stock, promotions), and answers
deterministically when a tool fully answers; otherwise it retrieves facts and builds a
short prompt, or hands off when nothing relevant is known. ``assess`` scores a generated
answer (logprobs + grounding + retrieval strength + language) and applies the policy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from core.answering.bot import Assessment, Fact, HandoffDecision, Prepared, TurnContext
from core.engines.base import ChatMessage
from core.knowledge.answers import product_fact
from core.knowledge.assessment import (
    CONVERSATION,
    GroundingGuard,
    score_answer,
    spec_labels,
)
from core.knowledge.base import KnowledgeHolder
from core.knowledge.botconfig import BotConfig
from core.knowledge.documents import body_for, quote_for
from core.knowledge.functions import ShopFunctions
from core.knowledge.grounding import Evidence
from core.knowledge.intents import Intents, detect_intents
from core.knowledge.orders import Asker
from core.knowledge.passages import (
    QuoteRule,
    asks_policy,
    asks_procedure,
    choose_passages,
    policy_passage,
)
from core.knowledge.policy import HandoffPolicy, catalog_words
from core.knowledge.pricing import quote
from core.knowledge.questions import answer_each, split_questions
from core.knowledge.retrieval import Hit
from core.knowledge.specwords import asks_warranty
from core.knowledge.textproc import normalise
from core.knowledge.tools import ShopTools, ToolOutcome, ToolRequest
from core.model.decision import HandoffKind
from core.model.turn import (
    Command,
    Confidence,
    HistoryItem,
    ImagePart,
    Role,
    Turn,
)
from core.texts import Language, detect_language, text

log = logging.getLogger(__name__)
# An order number (letters then digits, or a long number that lookup may know).
ORDER_REFERENCE = re.compile(r"\d{5,}|(?<![a-z])[a-z]{1,4}-?\d{3,}")

RULES: dict[Language, str] = {
    "en": "Answer in English in one or two short sentences. Use only the facts below; copy prices, dates and numbers exactly. If the facts do not answer the question, say that a colleague will help.",
    "zh": "请用中文回答，一到两句话。只能使用下面的资料，价格、日期和数字要原样照抄。如果资料里没有答案，就说会请同事来帮忙。",
}
FUNCTION_RULES: dict[Language, str] = {
    "en": "Answer in English in one or two short sentences. Look orders, products, policies and promotions up with the functions and use only what they return; copy prices, dates and numbers exactly. If they do not answer the question, say that a colleague will help.",
    "zh": "请用中文回答，一到两句话。用函数查询订单、商品、政策和活动，只使用函数返回的内容，价格、日期和数字要原样照抄。如果查不到答案，就说会请同事来帮忙。",
}


class OcrReading(Protocol):
    """What the brain needs from :class:`core.media.ocr.OcrReader`."""

    async def read(self, image: ImagePart) -> object: ...


def shop_today(timezone: str) -> Callable[[], date]:
    """A clock returning today's date in the shop's time zone (promotions use local dates)."""
    zone = ZoneInfo(timezone)
    return lambda: datetime.now(zone).date()


class KnowledgeBrain:
    """A :class:`core.answering.bot.BotBrain` for a shop described by a knowledge folder.

    Args:
        config: The bot definition (bot.yaml).
        holder: The loaded knowledge (swappable on reload).
        ocr: Reads photos; None means photos contribute their captions only.
        clock: Today's date for promotions; defaults to the shop's local date.
    """

    def __init__(
        self,
        config: BotConfig,
        holder: KnowledgeHolder,
        *,
        ocr: OcrReading | None = None,
        clock: Callable[[], date] | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.holder = holder
        self.ocr = ocr
        self.clock = clock or shop_today(holder.current.knowledge.shop.timezone)
        self.policy = HandoffPolicy(config.handoff)
        self._catalog_words_of: tuple[object, frozenset[str]] = (None, frozenset())

    async def read_photos(self, turn: Turn) -> str:
        """OCR text of the turn's photos (normalised), joined; empty without a reader."""
        if self.ocr is None or not turn.images:
            return ""
        from core.media.ocr import normalise_ocr_text

        texts = []
        for image in turn.images:
            result = await self.ocr.read(image)
            texts.append(normalise_ocr_text(str(getattr(result, "text", ""))))
        return "\n".join(t for t in texts if t)

    async def prepare(self, turn: Turn, context: TurnContext) -> Prepared:
        customer_text = turn.text.strip()
        history = context.history
        if turn.command in (Command.START, Command.HELP):
            greeting = text("greeting", detect_language(customer_text))
            return Prepared((), direct_reply=greeting)
        # The rules that need only the words come before reading photos: a damage report
        # with a photo is handed over at once, without seconds of OCR first.
        decision = self.policy.before_answer(
            customer_text, turn.command, history, context.failures, self._catalog_words()
        )
        if decision is not None:
            return Prepared((), handoff=decision)
        ocr_text = await self.read_photos(turn)
        language = detect_language(customer_text or ocr_text)
        if not customer_text and not ocr_text:
            return Prepared(
                (), handoff=self._no_knowledge("a message without readable text"), ocr_text=ocr_text
            )
        intents = detect_intents(customer_text)
        evidence = self._conversation_evidence(customer_text, ocr_text, history)
        if (intents.greeting or intents.thanks) and not turn.images:
            reply = (
                text("greeting", language) if intents.greeting else text("thanks_reply", language)
            )
            return Prepared((), evidence, direct_reply=reply, ocr_text=ocr_text)
        if self.config.function_calling:
            return self._with_functions(turn, intents, language, history, evidence, ocr_text)
        policy = () if turn.images else self._policy_first(customer_text, intents, language)
        if policy:
            return Prepared(
                (), (*policy, *evidence), direct_reply=policy[0].text, ocr_text=ocr_text
            )
        parts = split_questions(customer_text) if not turn.images else [customer_text]
        if len(parts) > 1:
            joined = await answer_each(
                parts,
                lambda part, earlier: self._answer_part(turn, part, earlier, history, language),
            )
            if joined is not None:
                return Prepared((), joined[1] + evidence, direct_reply=joined[0])
        outcome = await self._tools(turn, customer_text, ocr_text, intents, language, history)
        if outcome.handoff is not None:
            return Prepared(
                (), outcome.facts + evidence, handoff=outcome.handoff, ocr_text=ocr_text
            )
        if outcome.reply is not None:
            return Prepared(
                (), outcome.facts + evidence, direct_reply=outcome.reply, ocr_text=ocr_text
            )
        query = customer_text or ocr_text
        prepared = self._from_knowledge(turn, query, outcome, history, evidence, language)
        return replace(prepared, ocr_text=ocr_text, failures=context.failures)

    def _with_functions(
        self,
        turn: Turn,
        intents: Intents,
        language: Language,
        history: Sequence[HistoryItem],
        evidence: tuple[Fact, ...],
        ocr_text: str,
    ) -> Prepared:
        """For a capable model: the shop's tools as functions it chooses itself."""
        request = ToolRequest(
            turn.text.strip(), ocr_text, intents, self._asker(turn), language, self.clock(),
            bool(turn.images), tuple(h.text for h in history if h.role is Role.CUSTOMER),
        )  # fmt: skip
        functions = ShopFunctions(
            ShopTools(self.holder.current),
            request,
            lambda found: GroundingGuard(self.evidence((*evidence, *found))),
        )
        persona = self.config.persona_for(self.holder.current.knowledge.shop).get(language)
        system = ChatMessage.text("system", f"{persona}\n{FUNCTION_RULES[language]}")
        past = self._past(history)
        messages = (system, *past, ChatMessage("user", turn.parts))
        return Prepared(
            messages,
            evidence,
            stream_preview=self.config.stream_previews,
            ocr_text=ocr_text,
            guard=GroundingGuard(self.evidence(evidence)),
            functions=functions,
        )

    async def _answer_part(
        self,
        turn: Turn,
        part: str,
        earlier: Sequence[str],
        history: Sequence[HistoryItem],
        language: Language,
    ) -> tuple[str, tuple[Fact, ...]] | None:
        """One question of several: the tools' reply, or a clearly matching FAQ/policy quote."""
        context = (*history, *(HistoryItem(Role.CUSTOMER, e) for e in earlier))
        outcome = await self._tools(turn, part, "", detect_intents(part), language, context)
        if outcome.handoff is not None:
            return None
        if outcome.reply is not None:
            return outcome.reply, outcome.facts
        passages = self._passages(part, language)
        if not passages:
            return None
        return self._quote(passages, language), tuple(self._hit_fact(h, language) for h in passages)

    async def _tools(
        self,
        turn: Turn,
        customer_text: str,
        ocr_text: str,
        intents: Intents,
        language: Language,
        history: Sequence[HistoryItem] = (),
    ) -> ToolOutcome:
        tools = ShopTools(self.holder.current)
        request = ToolRequest(
            customer_text,
            ocr_text,
            intents,
            self._asker(turn),
            language,
            self.clock(),
            bool(turn.images),
            tuple(h.text for h in history if h.role is Role.CUSTOMER),
        )
        return await tools.run(request)

    def _asker(self, turn: Turn) -> Asker:
        return Asker.of(turn)

    def _from_knowledge(
        self,
        turn: Turn,
        query: str,
        outcome: ToolOutcome,
        history: Sequence[HistoryItem],
        evidence: tuple[Fact, ...],
        language: Language,
    ) -> Prepared:
        # Tool facts did not answer; a FAQ or policy passage that clearly does is quoted.
        passages = self._passages(query, language)
        if passages:
            quoted = tuple(self._hit_fact(h, language) for h in passages)
            facts = (*quoted, *outcome.facts, *evidence)
            return Prepared((), facts, direct_reply=self._quote(passages, language))
        hits = self.holder.current.retriever.relevant(query, self.config.retrieval.top_k)
        if not hits and not outcome.facts:
            return Prepared((), evidence, handoff=self._no_knowledge(repr(query[:80])))
        facts = (*outcome.facts, *(self._hit_fact(h, language) for h in hits))[
            : self.config.max_facts
        ]
        messages = self._messages(turn, facts, history, language)
        everything = (*facts, *evidence)
        return Prepared(
            messages,
            everything,
            stream_preview=self.config.stream_previews,
            guard=GroundingGuard(self.evidence(everything)),
        )

    def _catalog_words(self) -> frozenset[str]:
        """The words of the current catalog's names, aliases, tags and descriptions."""
        base = self.holder.current
        if self._catalog_words_of[0] is not base:
            self._catalog_words_of = (base, catalog_words(base.knowledge))
        return self._catalog_words_of[1]

    def _policy_first(
        self, question: str, intents: Intents, language: Language
    ) -> tuple[Fact, ...]:
        """A policy question that names a product ("I used the knife twice, can I return
        it?") is answered from the policy before the product's facts, which would answer
        another question (the knife's handle). A product's own warranty still answers "what
        warranty does it have"; the warranty policy answers "how do I claim"; a question
        about an order (a number, "where is my order") is the order tools'; a price or
        several questions go their usual way (a product called "Repair Cream" asks nothing)."""
        tools_first = intents.order_status or intents.price
        if tools_first or not asks_policy(question) or ORDER_REFERENCE.search(normalise(question)):
            return ()
        if asks_warranty(question) and not asks_procedure(question):
            return ()
        if len(split_questions(question)) > 1:
            return ()
        passages = self._policy_passages(question, language)
        if not passages:
            return ()
        quoted = Fact(passages[0].document.source, self._quote(passages, language), 1.0)
        return (quoted, *(self._hit_fact(h, language) for h in passages))

    def _policy_passages(self, question: str, language: Language) -> tuple[Hit, ...]:
        retriever = self.holder.current.retriever
        rule = self._quote_rule()
        kinds = frozenset({"faq", "policy"}) & rule.kinds
        topical = retriever.search(question, 4, kinds=kinds, topic_only=True)
        return policy_passage(topical, question, rule, language)

    def evidence(self, facts: Sequence[Fact]) -> Evidence:
        """What a draft may state: the facts, with the shop's spec labels for spec checks."""
        return Evidence((f.text for f in facts), spec_labels(self.holder.current.knowledge))

    def _quote_rule(self) -> QuoteRule:
        direct = self.config.direct_answers
        return QuoteRule(
            frozenset(direct.kinds), direct.min_score, direct.min_coverage, direct.min_margin,
            self.config.retrieval.min_coverage, direct.dominant_coverage, direct.dominance,
            direct.sibling_ratio,
        )  # fmt: skip

    def _passages(self, question: str, language: Language) -> tuple[Hit, ...]:
        """The FAQ/policy passages that answer ``question`` as written (empty: none clearly)."""
        hits = self.holder.current.retriever.search(question, max(self.config.retrieval.top_k, 4))
        chosen = choose_passages(hits, question, self._quote_rule(), language)
        return chosen or self._policy_passages(question, language)

    @staticmethod
    def _quote(passages: Sequence[Hit], language: Language) -> str:
        return "\n".join(quote_for(h.document, language) for h in passages)

    def _hit_fact(self, hit: Hit, language: Language) -> Fact:
        document = hit.document
        if document.kind == "product":
            knowledge = self.holder.current.knowledge
            product = knowledge.product(document.source.removeprefix("catalog:"))
            if product is not None:  # today's price, not the list price
                q = quote([(product, 1)], knowledge.promotions, self.clock())
                return Fact(
                    document.source,
                    product_fact(product, q, knowledge.shop, language),
                    hit.coverage,
                )
        return Fact(document.source, body_for(document, language), hit.coverage)

    def _messages(
        self, turn: Turn, facts: Sequence[Fact], history: Sequence[HistoryItem], language: Language
    ) -> tuple[ChatMessage, ...]:
        persona = self.config.persona_for(self.holder.current.knowledge.shop).get(language)
        heading = "资料：" if language == "zh" else "Facts:"
        system = "\n".join([persona, RULES[language], heading, *(f"- {f.text}" for f in facts)])
        past = self._past(history)
        return (ChatMessage.text("system", system), *past, ChatMessage("user", turn.parts))

    def _past(self, history: Sequence[HistoryItem]) -> list[ChatMessage]:
        """The last ``history_rounds`` rounds as chat messages."""
        rounds = (
            list(history)[-2 * self.config.history_rounds :] if self.config.history_rounds else []
        )
        return [
            ChatMessage.text("user" if h.role is Role.CUSTOMER else "assistant", h.text)
            for h in rounds
        ]

    def _conversation_evidence(
        self, customer_text: str, ocr_text: str, history: Sequence[HistoryItem]
    ) -> tuple[Fact, ...]:
        # What the customer said or showed may be repeated back; the bot's own earlier words may not.
        said = [h.text for h in history if h.role is Role.CUSTOMER]
        return tuple(Fact(CONVERSATION, t, 0.0) for t in (*said, customer_text, ocr_text) if t)

    def _no_knowledge(self, detail: str) -> HandoffDecision:
        decision = self.policy.no_knowledge(detail)
        return decision or HandoffDecision(
            (f"nothing to answer with: {detail}",), HandoffKind.NO_KNOWLEDGE
        )

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, logprob_confidence: Confidence
    ) -> Assessment:
        confidence = self.score(turn, prepared, answer, logprob_confidence)
        decision = self.policy.after_answer(confidence, prepared.failures)
        return Assessment(confidence, decision, weak=self.policy.is_weak(confidence))

    def score(
        self, turn: Turn, prepared: Prepared, answer: str, logprob_confidence: Confidence
    ) -> Confidence:
        """Logprobs, grounding, retrieval strength and language, with hard caps."""
        return score_answer(
            self.config.confidence,
            self.evidence(prepared.facts),
            turn.text.strip() or prepared.ocr_text,
            prepared.facts,
            answer,
            logprob_confidence,
        )
