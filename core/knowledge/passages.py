"""Which FAQ or policy passages answer a question well enough to be quoted as they are.

The embedded model cannot write a groundable answer within the reply budget, so a question
the shop's own text answers is better answered by quoting that text. A passage is quoted
when one of these holds (kinds, thresholds and factors come from bot.yaml):

- **clear**: it covers most of the question's key terms and beats the runner-up (the
  original rule);
- **dominant**: it is far ahead of every other document and contains every word of the
  question that the shop uses anywhere (the customer used words of their own for the rest:
  "放冰箱" for "冷藏"; "Do you sell gift cards?" is not answered by the gift-box FAQ, which
  lacks "sell" while other documents have it);
- **typed**: the question asks for a kind of answer (how long, how much, when) and exactly
  one relevant passage states such a thing ("How long do I have to return it?": the return
  window, not the list of items that cannot be returned);
- **sections**: the two best hits are sections of one policy, nearly as strong as each
  other and together far ahead of the rest (domestic and international delivery times).

A looser rule never quotes a passage that lacks the kind of answer asked for, nor one
missing a word of the question that the shop's knowledge uses elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from core.knowledge.documents import quote_for
from core.knowledge.intents import ORDER_ACTION
from core.knowledge.retrieval import Hit
from core.knowledge.textproc import normalise
from core.texts import Language


class AnswerKind(Enum):
    """What kind of statement a question asks for."""

    DURATION = "duration"
    MONEY = "money"
    WHEN = "when"


# General ways of asking for a length of time, an amount of money, or a moment (both languages).
_ASKS = {
    AnswerKind.DURATION: re.compile(
        r"how long|how many (?:days|hours|weeks|months|years)|how soon|how quickly|\bwithin how|"
        r"多久|多长时间|几天|多少天|几个?(?:小时|星期|礼拜|月)|几周|多少个?工作日|时效|期限"
    ),
    AnswerKind.MONEY: re.compile(
        r"how much|\bfees?\b|\bcosts?\b|\bcharges?\b|\bminimum (?:order|spend|amount)|"
        r"多少钱|运费多少|收费|费用|几块|多少元|起送|满多少|最低消费"
    ),
    AnswerKind.WHEN: re.compile(
        r"\bwhen\b|what time|what date|\buntil\b|\bby what\b|\bends?\b|"
        r"什么时候|哪天|几号|几点|截止|到期|结束|之前能|前能"
    ),
}
_NUMBER = r"(?:\d+(?:[.,]\d+)?(?:\s*[-–~至到]\s*\d+)?|[一二两三四五六七八九十半]+)"
_STATES = {
    AnswerKind.DURATION: re.compile(
        rf"{_NUMBER}\s*(?:个)?(?:working days?|business days?|days?|hours?|weeks?|months?|years?|minutes?|"
        rf"天|日|小时|周|星期|个?月|年|分钟|工作日)|same day|next day|当天|次日|隔日"
    ),
    AnswerKind.MONEY: re.compile(
        r"[¥￥$€£]\s*\d|\d\s*(?:元|块|yuan|rmb|cny)\b|\d\s*元|\bfree\b|包邮|免运费|免费"
    ),
    AnswerKind.WHEN: re.compile(
        r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}:\d{2}|\d{1,2}月\d{1,2}日|"
        r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d|"
        r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekdays?|weekends?)\b|"
        r"周[一二三四五六日末]|工作日"
    ),
}
# A "when" question is also answered by a length of time ("within 3 working days").
_ACCEPTS = {
    AnswerKind.DURATION: (AnswerKind.DURATION,),
    AnswerKind.MONEY: (AnswerKind.MONEY,),
    AnswerKind.WHEN: (AnswerKind.WHEN, AnswerKind.DURATION),
}


def asked_kind(question: str) -> AnswerKind | None:
    """The kind of answer ``question`` asks for (None: a yes/no or open question)."""
    lowered = normalise(question)
    for kind in (AnswerKind.DURATION, AnswerKind.MONEY, AnswerKind.WHEN):
        if _ASKS[kind].search(lowered):
            return kind
    return None


def states(text: str, kind: AnswerKind | None) -> bool:
    """Whether ``text`` states an answer of ``kind`` (anything does when no kind is asked)."""
    if kind is None:
        return True
    lowered = normalise(text)
    return any(_STATES[k].search(lowered) for k in _ACCEPTS[kind])


@dataclass(frozen=True, slots=True)
class QuoteRule:
    """When passages are quoted (see the module docstring).

    Attributes:
        kinds: Document kinds that may be quoted.
        min_score: The BM25 score a quoted passage must reach.
        min_coverage / min_margin: The clear rule.
        relevant_coverage: The coverage a passage needs to count as relevant (typed rule).
        dominant_coverage / dominance: The dominant rule: at least this coverage, and this
            many times the runner-up's score.
        sibling_ratio: The sections rule: the second section's score over the first's.
    """

    kinds: frozenset[str]
    min_score: float = 4.0
    min_coverage: float = 0.8
    min_margin: float = 1.2
    relevant_coverage: float = 0.6
    dominant_coverage: float = 0.4
    dominance: float = 2.0
    sibling_ratio: float = 0.75


# Questions about what the shop allows or does after a sale (returns, exchanges, warranty
# claims, cancelling, a new address): answered by a policy even when they name a product.
_AFTER_SALE = re.compile(
    r"保修|质保|维修|能退|可以退|退吗|退不退|退换|\bwarrant|\bguarantee|\brepair|\bsend (?:it|them) back"
)


# How to do something (a claim, a return): the shop's procedure, not a product's facts.
_PROCEDURE = re.compile(r"\bhow (?:do|can|should) i\b|\bhow to\b|怎么|如何|申请|流程|手续")


def asks_procedure(question: str) -> bool:
    """Whether ``question`` asks how to do something ("how do I claim", "怎么申请")."""
    return _PROCEDURE.search(normalise(question)) is not None


def asks_policy(question: str) -> bool:
    """Whether ``question`` asks what the shop's policy allows (see ``_AFTER_SALE``)."""
    lowered = normalise(question)
    return bool(ORDER_ACTION.search(lowered) or _AFTER_SALE.search(lowered))


def policy_passage(
    hits: Sequence[Hit], question: str, rule: QuoteRule, language: Language
) -> tuple[Hit, ...]:
    """For a policy question that names a product (``hits`` scored on the words FAQs and
    policies use, see ``Retriever.search(topic_only=True)``): the best passage when it covers
    the rest of the question and beats the runner-up as the clear rule asks, or covers most
    of it, misses none of the shop's words and is far ahead."""
    if not hits or not rule.kinds or not asks_policy(question):
        return ()
    # Ranked by score times coverage: the product's name no longer counts, so a passage that
    # names the product ("the leash is covered for 6 months") may score higher on words that
    # are no longer asked about.
    ranked = sorted(hits, key=lambda h: -h.score * h.coverage)
    best = ranked[0]
    weight = best.score * best.coverage
    runner_up = ranked[1].score * ranked[1].coverage if len(ranked) > 1 else 0.0
    clear = best.coverage >= rule.min_coverage and weight >= rule.min_margin * runner_up
    dominant = (
        best.coverage >= rule.relevant_coverage
        and not best.missing
        and weight >= rule.dominance * runner_up
    )
    quotable = best.document.kind in rule.kinds and best.score >= rule.min_score
    kind = asked_kind(question)
    if quotable and (clear or dominant) and states(quote_for(best.document, language), kind):
        return (best,)
    return ()


def parent(source: str) -> str:
    """The document a section belongs to (``policy:shipping`` of ``policy:shipping#fees``)."""
    return source.partition("#")[0]


def choose_passages(
    hits: Sequence[Hit], question: str, rule: QuoteRule, language: Language
) -> tuple[Hit, ...]:
    """The passages to quote for ``question`` from its best ``hits`` (best first); empty
    when none answers it clearly enough."""
    if not hits or not rule.kinds:
        return ()
    kind = asked_kind(question)

    def answers(*chosen: Hit) -> bool:
        return states(" ".join(quote_for(h.document, language) for h in chosen), kind)

    best, rest = hits[0], hits[1:]
    # The clear rule compares with the next hit that is about the question at all.
    related = next((h.score for h in rest if h.coverage >= rule.dominant_coverage), 0.0)
    runner_up = rest[0].score if rest else 0.0
    quotable = best.document.kind in rule.kinds and best.score >= rule.min_score
    if quotable and best.coverage >= rule.min_coverage and best.score >= rule.min_margin * related:
        return (best,)
    if (
        quotable
        and best.coverage >= rule.dominant_coverage
        and not best.missing
        and best.score >= rule.dominance * runner_up
    ):
        return (best,) if answers(best) else ()
    sections = _sections(hits, rule)
    if sections and answers(*sections):
        stating = tuple(h for h in sections if answers(h))
        return stating if kind is not None and len(stating) == 1 else sections
    if kind is None or best.document.kind not in rule.kinds:
        return ()  # a product on top: the question is about it, not about a passage
    relevant = [
        h
        for h in hits
        if h.document.kind in rule.kinds
        and h.score >= rule.min_score
        and h.coverage >= rule.relevant_coverage
        and not h.missing
    ]
    typed = [h for h in relevant if answers(h)]
    return (typed[0],) if len(typed) == 1 else ()


def _sections(hits: Sequence[Hit], rule: QuoteRule) -> tuple[Hit, ...]:
    """The two best hits when they are sections of one policy, close to each other and
    together far ahead of the third."""
    if len(hits) < 2:
        return ()
    first, second = hits[0], hits[1]
    third = hits[2].score if len(hits) > 2 else 0.0
    same = (
        first.document.kind == second.document.kind == "policy"
        and "policy" in rule.kinds
        and parent(first.document.source) == parent(second.document.source)
    )
    close = second.score >= rule.sibling_ratio * first.score and second.score >= rule.min_score
    covered = (
        min(first.coverage, second.coverage)
        >= (rule.dominant_coverage + rule.relevant_coverage) / 2
        and not first.missing & second.missing
    )
    ahead = first.score + second.score >= rule.dominance * third
    return (first, second) if same and close and covered and ahead else ()
