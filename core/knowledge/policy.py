"""When a person should take over: the handoff policy, configurable per bot (bot.yaml).

Triggers, each returning a :class:`~core.answering.bot.HandoffDecision` whose ``reasons`` go to the
decision log:

- **explicit**: the ``/human`` command or button (command ``"human"``), or a request such
  as "转人工", "人工客服", "talk to a person", "human agent".
- **policy**: requests only staff may decide (price matching, wholesale, medical advice),
  symptoms of a person or a pet (diarrhoea, a rash, fever: whatever the shop sells), and
  questions about another person's order or details (:mod:`core.knowledge.thirdparty`).
- **complaint**: escalation words (投诉, 曝光, 12315, lawyer, scam, ...), reports of a
  damaged or defective item (staff review every quality claim), and safety incidents (a
  product that sparked, overheated, burned or hurt someone: always, whatever
  ``handoff_on_damage`` says).
- **no_knowledge**: retrieval found nothing relevant and no tool answered.
- **low_confidence**: the answer's confidence (token log-probabilities combined with the
  grounding check) is below ``confidence_threshold``.
- **repeated_failure**: the customer says the bot is not helping ("答非所问", "not helpful"),
  repeats a question the bot already answered, or ``max_weak_in_a_row`` answers in a row
  failed or scored below ``weak_threshold``. The count is the conversation's durable
  counter (``conversations.failures``, given in :class:`~core.answering.bot.TurnContext`):
  it holds across restarts and processes; the policy only reads it, and says which answers
  are weak (the worker commits the count with the answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from core.answering.bot import HandoffDecision
from core.knowledge.model import Knowledge
from core.knowledge.textproc import key_terms, normalise, sub_words, tokenize
from core.knowledge.thirdparty import third_party_request
from core.model.decision import HandoffKind
from core.model.turn import Command, Confidence, HistoryItem, Role

EXPLICIT_PHRASES = (
    "转人工", "人工客服", "人工服务", "找人工", "要人工", "接人工", "转接人工", "真人客服", "人工坐席", "找客服",
    "talk to a person", "talk to a human", "speak to a person", "speak to a human", "human agent",
    "real person", "live agent", "talk to someone", "speak to someone", "representative", "talk to an agent",
    "speak to an agent", "customer service agent", "operator", "manager", "supervisor", "经理", "主管",
)  # fmt: skip
COMPLAINT_PHRASES = (
    "投诉", "曝光", "退款纠纷", "差评", "12315", "消协", "消费者协会", "工商局", "律师", "起诉", "骗子", "欺诈",
    "维权", "报警", "坑人", "垃圾服务", "太差劲",
    "complaint", "complain", "lawyer", "sue", "suing", "scam", "fraud", "rip-off", "ripoff", "chargeback",
    "consumer protection", "report you", "unacceptable", "terrible service", "worst service",
)  # fmt: skip
DAMAGE_PHRASES = (
    "破了", "破损", "坏了", "损坏", "开线", "断了", "掉色", "脱胶", "有洞", "有个洞", "破洞", "一个洞", "瑕疵", "次品",
    "发错", "少发", "漏发", "质量问题", "开胶", "脱线",
    "damaged", "broken", "torn", "defective", "ripped", "faulty", "wrong item", "missing item", "has a hole",
    "fell apart", "came apart", "quality problem",
    "裂了", "裂开", "开裂", "碎了", "压碎", "摔碎", "发霉", "霉了", "变质", "过期", "鼓包", "漏液", "冒烟", "着火",
    "不工作", "用不了", "坏掉", "没反应", "cracked", "shattered", "stopped working", "not working",
    "doesn't work", "does not work", "won't turn on", "won't charge", "mouldy", "moldy", "expired",
    "swelled", "swollen", "caught fire", "leaking",
)  # fmt: skip
# A product that hurt someone or could have: never answered by a bot.
SAFETY_PHRASES = (
    "火花", "冒火", "漏电", "触电", "电到我", "电了一下", "烫伤", "烧伤", "烧焦", "焦味", "熔化", "融化了", "爆炸",
    "炸了", "受伤", "割伤", "划伤",
    "sparked", "sparking", "sparks", "electric shock", "shocked me", "got a shock", "overheated",
    "overheating", "melted", "exploded", "burned", "burnt", "got burned", "injured", "injury",
    "cut myself", "caught fire", "on fire", "smoking",
)  # fmt: skip
# Symptoms of a person or a pet (a health question is never answered by a bot).
HEALTH_PHRASES = (
    "拉肚子", "腹泻", "拉稀", "便便", "大便", "呕吐", "吐了", "吐奶", "发烧", "发热", "红疹", "起疹", "疹子", "湿疹",
    "过敏反应", "红屁股", "尿布疹", "生病", "咳嗽", "便秘", "流血", "肿了",
    "poo", "poop", "diarrhea", "diarrhoea", "vomit", "vomiting", "throwing up", "threw up", "fever",
    "rash", "nappy rash", "diaper rash", "allergic reaction", "constipated", "constipation",
    "bleeding", "swollen", "got sick", "been sick", "is sick",
)  # fmt: skip
# Requests only staff may decide: matching another shop's price, trade-ins, special tax
# invoices, wholesale and bulk prices, and health or medical advice.
STAFF_ONLY_PHRASES = (
    "比价", "别家更便宜", "其他平台更便宜", "便宜的话", "价格匹配", "以旧换新", "旧换新", "抵扣", "增值税专用发票",
    "专票", "批发", "批量采购", "大批量", "团购价", "经销", "代理", "孕妇", "怀孕", "哺乳期", "宝宝能", "治病", "药效", "糖尿病", "高血压",
    "price match", "match that price", "match the price", "match their price", "cheaper elsewhere",
    "trade-in", "trade in my", "vat invoice", "pregnant", "pregnancy", "breastfeeding",
    "medical advice", "diabetic", "wholesale", "bulk order", "bulk price", "bulk discount",
    "reseller", "distributor",
)  # fmt: skip
# A question about when staff are online mentions them without asking for them.
HOURS_QUESTION = re.compile(
    r"几点|什么时候|时间|上班|下班|营业|在线吗|几号|what time|when\b|hours|online\b"
)
FRUSTRATION_PHRASES = (
    "没用", "答非所问", "听不懂", "你不懂", "说了多少遍", "不是这个意思", "没解决", "说过了",
    "not helpful", "useless", "you don't understand", "not what i asked", "already told you", "stupid bot",
    "that doesn't help", "doesn't answer",
)  # fmt: skip


REQUEST_WORDS = re.compile(r"转|找|要|接|帮我|talk|speak|connect|transfer|need|want|get me")


def _asks_hours_only(lowered: str) -> bool:
    """ "人工客服几点上班" asks when staff work; "转人工" asks for them."""
    return HOURS_QUESTION.search(lowered) is not None and REQUEST_WORDS.search(lowered) is None


class HandoffPolicyConfig(BaseModel):
    """The ``handoff`` section of a bot.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confidence_threshold: float = Field(0.35, ge=0, le=1)
    weak_threshold: float = Field(0.55, ge=0, le=1)
    max_weak_in_a_row: int = Field(2, ge=1)
    handoff_on_no_knowledge: bool = True
    handoff_on_damage: bool = True
    repeated_question_similarity: float = Field(0.8, gt=0, le=1)
    explicit_phrases: tuple[str, ...] = EXPLICIT_PHRASES
    complaint_phrases: tuple[str, ...] = COMPLAINT_PHRASES
    damage_phrases: tuple[str, ...] = DAMAGE_PHRASES
    safety_phrases: tuple[str, ...] = SAFETY_PHRASES
    health_phrases: tuple[str, ...] = HEALTH_PHRASES
    frustration_phrases: tuple[str, ...] = FRUSTRATION_PHRASES
    staff_only_phrases: tuple[str, ...] = STAFF_ONLY_PHRASES
    extra_explicit_phrases: tuple[str, ...] = ()
    extra_complaint_phrases: tuple[str, ...] = ()


# Things that expire without anything being wrong with the goods: points, coupons, vouchers.
_BENEFITS = re.compile(
    r"积分|优惠券|优惠码|券|红包|会员|礼品卡|购物卡|活动|"
    r"\bpoints?\b|\bcoupons?\b|\bvouchers?\b|\bmembership\b|\bgift ?cards?\b|\bpromo(?:tion)? ?codes?\b|\bcodes?\b"
)
_EXPIRY_WORDS = ("过期", "expired")


def _expiry_of_a_benefit(lowered: str, match: re.Match[str]) -> bool:
    """The damage word found is an expiry, and what expires is a benefit, not the goods."""
    return match.group(0) in _EXPIRY_WORDS and bool(_BENEFITS.search(lowered))


def _phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str]:
    # Latin phrases match whole words ("sue" must not fire on "issue"); Chinese ones anywhere.
    parts = []
    for phrase in sorted({normalise(p) for p in phrases if p.strip()}, key=len, reverse=True):
        escaped = re.escape(phrase)
        parts.append(rf"(?<![a-z]){escaped}(?![a-z])" if phrase.isascii() else escaped)
    return re.compile("|".join(parts) if parts else r"(?!x)x")


def catalog_words(knowledge: Knowledge) -> frozenset[str]:
    """Key terms of every product's names, aliases, tags, category and description."""
    texts = (
        t
        for p in knowledge.products
        for t in (p.name.zh, p.name.en, p.category_name.zh, p.category_name.en,
                  p.description.zh, p.description.en, *p.tags, *p.aliases)
    )  # fmt: skip
    terms = [term for text in texts for term in key_terms(text)]
    return frozenset([*terms, *(w for t in terms if not t.isascii() for w in sub_words(t))])


# Who a staff-only phrase is about, in the words a catalog for them uses.
_AUDIENCE_WORDS = {
    "宝宝": ("婴儿", "宝宝", "baby"), "孕妇": ("孕妇", "孕期", "maternity", "pregnancy"),
    "怀孕": ("孕妇", "孕期", "maternity", "pregnancy"), "pregnant": ("maternity", "pregnancy"),
    "pregnancy": ("maternity", "pregnancy"), "哺乳期": ("哺乳", "吸奶器", "nursing"),
    "breastfeeding": ("nursing", "breast"),
}  # fmt: skip


def _shop_vocabulary(phrase: str, catalog_words: frozenset[str]) -> bool:
    """Whether ``phrase`` is about whom the catalog is for: one of its words (or a word for
    the same people: 宝宝 and 婴儿) is a catalog word."""
    terms = key_terms(phrase)
    words = [w for t in terms for w in (t, *_AUDIENCE_WORDS.get(t, ()))]
    return any(len(w) >= 2 and w in catalog_words for w in words)


def _similarity(a: str, b: str) -> float:
    ta, tb = set(tokenize(a)), set(tokenize(b))
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


class HandoffPolicy:
    """Applies a :class:`HandoffPolicyConfig`."""

    def __init__(self, config: HandoffPolicyConfig | None = None) -> None:
        self.config = config or HandoffPolicyConfig()
        c = self.config
        self._explicit = _phrase_pattern((*c.explicit_phrases, *c.extra_explicit_phrases))
        self._complaint = _phrase_pattern((*c.complaint_phrases, *c.extra_complaint_phrases))
        self._damage = _phrase_pattern(c.damage_phrases)
        self._safety = _phrase_pattern(c.safety_phrases)
        self._health = _phrase_pattern(c.health_phrases)
        self._frustration = _phrase_pattern(c.frustration_phrases)
        self._staff_only = _phrase_pattern(c.staff_only_phrases)

    def before_answer(
        self,
        text: str,
        command: Command | None,
        history: Sequence[HistoryItem],
        failures: int,
        catalog_words: frozenset[str] = frozenset(),
    ) -> HandoffDecision | None:
        """Rules that need no answer: explicit requests, complaints, damage, frustration, repeats.

        Args:
            text: The customer's words.
            command: The turn's command, if any.
            history: The conversation's recent rounds.
            failures: Failed or weak answers in a row so far (the durable counter).
            catalog_words: Words of the shop's own catalog: a staff-only phrase built on one
                ("孕妇" where the shop sells a 孕妇枕, "宝宝能" in a baby shop) is the shop's
                ordinary vocabulary there, not a request only staff may decide.
        """
        lowered = normalise(text)
        if command is Command.HUMAN:
            return HandoffDecision(
                ("customer pressed 'talk to a person' (/human)",), HandoffKind.EXPLICIT
            )
        if (match := self._explicit.search(lowered)) and not _asks_hours_only(lowered):
            return HandoffDecision(
                (f"customer asked for a person: {match.group(0)!r}",), HandoffKind.EXPLICIT
            )
        if match := self._complaint.search(lowered):
            return HandoffDecision(
                (f"complaint or escalation wording: {match.group(0)!r}",), HandoffKind.COMPLAINT
            )
        if match := self._safety.search(lowered):
            return HandoffDecision(
                (f"safety incident reported: {match.group(0)!r}",), HandoffKind.COMPLAINT
            )
        match = self._damage.search(lowered)
        if match and _expiry_of_a_benefit(lowered, match):
            match = None  # "when do my points expire" asks a date, it reports no bad goods
        if self.config.handoff_on_damage and match:
            return HandoffDecision(
                (f"damaged or defective item reported: {match.group(0)!r}",), HandoffKind.COMPLAINT
            )
        if match := self._health.search(lowered):
            return HandoffDecision(
                (f"a health concern, for staff: {match.group(0)!r}",), HandoffKind.POLICY
            )
        match = self._staff_only.search(lowered)
        if match and not _shop_vocabulary(match.group(0), catalog_words):
            return HandoffDecision(
                (f"only staff can decide this: {match.group(0)!r}",), HandoffKind.POLICY
            )
        if words := third_party_request(text):
            return HandoffDecision(
                (f"asks about another person's order or details: {words!r}",), HandoffKind.POLICY
            )
        if match := self._frustration.search(lowered):
            return HandoffDecision(
                (f"customer says the bot is not helping: {match.group(0)!r}",),
                HandoffKind.REPEATED_FAILURE,
            )
        return self._repeated_question(text, history) or self._too_many_weak(failures)

    def _repeated_question(
        self, text: str, history: Sequence[HistoryItem]
    ) -> HandoffDecision | None:
        answered = False
        for item in reversed(history):
            if item.role is not Role.CUSTOMER:
                answered = True
                continue
            if (
                answered
                and _similarity(text, item.text) >= self.config.repeated_question_similarity
            ):
                return HandoffDecision(
                    ("customer repeated a question the bot already answered",),
                    HandoffKind.REPEATED_FAILURE,
                )
        return None

    def _too_many_weak(self, failures: int) -> HandoffDecision | None:
        if failures >= self.config.max_weak_in_a_row:
            return HandoffDecision(
                (f"{failures} failed or weak answers in a row",), HandoffKind.REPEATED_FAILURE
            )
        return None

    def no_knowledge(self, detail: str) -> HandoffDecision | None:
        """Retrieval found nothing relevant (and no tool answered)."""
        if not self.config.handoff_on_no_knowledge:
            return None
        return HandoffDecision(
            (f"nothing relevant in the shop's knowledge: {detail}",), HandoffKind.NO_KNOWLEDGE
        )

    def is_weak(self, confidence: Confidence) -> bool:
        """A sent answer below ``weak_threshold`` counts towards the failures in a row."""
        return confidence.score < self.config.weak_threshold

    def after_answer(self, confidence: Confidence, failures: int) -> HandoffDecision | None:
        """Judge a generated answer.

        Args:
            confidence: The answer's confidence.
            failures: Failed or weak answers in a row before this one (the durable counter).
        """
        c = self.config
        if confidence.score < c.confidence_threshold:
            reasons = (
                f"confidence {confidence.score:.2f} < {c.confidence_threshold:.2f}",
                *confidence.reasons,
            )
            return HandoffDecision(reasons, HandoffKind.LOW_CONFIDENCE)
        weak = failures + 1 if self.is_weak(confidence) else 0
        if weak >= c.max_weak_in_a_row:
            return HandoffDecision(
                (f"{weak} weak answers in a row (< {c.weak_threshold:.2f})", *confidence.reasons),
                HandoffKind.REPEATED_FAILURE,
            )
        return None
