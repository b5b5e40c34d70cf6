"""The handoff policy: each trigger, with its reasons for the decision log."""

from __future__ import annotations

import pytest

from core.knowledge.policy import HandoffPolicy, HandoffPolicyConfig
from core.model.decision import HandoffKind
from core.model.turn import Command, Confidence, HistoryItem, Role

FRESH = 0  # no failed or weak answers before this turn


@pytest.fixture
def policy() -> HandoffPolicy:
    return HandoffPolicy()


def test_human_command(policy: HandoffPolicy) -> None:
    decision = policy.before_answer("", Command.HUMAN, [], FRESH)
    assert decision is not None and decision.kind == "explicit"


@pytest.mark.parametrize(
    "text",
    [
        "转人工",
        "我要人工客服",
        "I want to talk to a person",
        "human agent please",
        "Can I speak to a human?",
    ],
)
def test_explicit_requests(policy: HandoffPolicy, text: str) -> None:
    decision = policy.before_answer(text, None, [], FRESH)
    assert decision is not None and decision.kind == "explicit"
    assert decision.reasons[0].startswith("customer asked for a person")


@pytest.mark.parametrize(
    "text",
    [
        "我要投诉",
        "再不处理我就曝光你们",
        "退款纠纷",
        "给差评",
        "打12315",
        "This is a scam",
        "I will sue you",
        "my lawyer will call",
        "I want to file a complaint",
    ],
)
def test_complaints(policy: HandoffPolicy, text: str) -> None:
    decision = policy.before_answer(text, None, [], FRESH)
    assert decision is not None and decision.kind == "complaint"


@pytest.mark.parametrize(
    "text",
    ["收到的衣服破了", "拉链坏了", "the zipper is broken", "it arrived damaged", "衣服有个洞"],
)
def test_damage_reports(policy: HandoffPolicy, text: str) -> None:
    decision = policy.before_answer(text, None, [], FRESH)
    assert decision is not None and decision.kind == "complaint"
    assert "damaged or defective" in decision.reasons[0]


@pytest.mark.parametrize(
    "text",
    [
        "Is there an issue with my order?",
        "Pursue the return?",
        "你们有实体店吗",
        "How do I wash wool?",
    ],
)
def test_ordinary_questions_pass(policy: HandoffPolicy, text: str) -> None:
    assert policy.before_answer(text, None, [], FRESH) is None  # "issue" must not match "sue"


def test_frustration(policy: HandoffPolicy) -> None:
    decision = policy.before_answer("你这答非所问", None, [], FRESH)
    assert decision is not None and decision.kind == "repeated_failure"


def test_repeated_question_after_an_answer(policy: HandoffPolicy) -> None:
    history = [
        HistoryItem(Role.CUSTOMER, "羊绒开衫可以机洗吗"),
        HistoryItem(Role.BOT, "建议干洗。"),
    ]
    decision = policy.before_answer("羊绒开衫可以机洗吗？", None, history, FRESH)
    assert decision is not None and decision.kind == "repeated_failure"
    # Sending the same words twice before any answer is not a failure of the bot.
    assert (
        policy.before_answer(
            "羊绒开衫可以机洗吗", None, [HistoryItem(Role.CUSTOMER, "羊绒开衫可以机洗吗")], FRESH
        )
        is None
    )


def test_low_confidence(policy: HandoffPolicy) -> None:
    decision = policy.after_answer(Confidence(0.2, reasons=("unsure about '¥'",)), FRESH)
    assert decision is not None and decision.kind == "low_confidence"
    assert decision.reasons == ("confidence 0.20 < 0.35", "unsure about '¥'")


def test_weak_answers_in_a_row_come_from_the_durable_count(policy: HandoffPolicy) -> None:
    assert policy.is_weak(Confidence(0.5)) and not policy.is_weak(Confidence(0.9))
    assert policy.after_answer(Confidence(0.5), 0) is None  # weak #1
    decision = policy.after_answer(Confidence(0.5), 1)  # weak #2
    assert decision is not None and decision.kind == "repeated_failure"
    assert policy.after_answer(Confidence(0.9), 1) is None  # a good answer is never handed off


def test_weak_count_also_blocks_before_answering() -> None:
    policy = HandoffPolicy(HandoffPolicyConfig(max_weak_in_a_row=1))
    decision = policy.before_answer("hello?", None, [], 1)
    assert decision is not None and decision.kind == "repeated_failure"
    assert policy.before_answer("hello?", None, [], 0) is None


def test_no_knowledge_can_be_switched_off() -> None:
    assert HandoffPolicy().no_knowledge("x").kind == "no_knowledge"
    assert (
        HandoffPolicy(HandoffPolicyConfig(handoff_on_no_knowledge=False)).no_knowledge("x") is None
    )


def test_extra_phrases_from_config() -> None:
    policy = HandoffPolicy(HandoffPolicyConfig(extra_complaint_phrases=("黑店",)))
    assert policy.before_answer("你们是黑店", None, [], FRESH).kind == "complaint"


def test_staff_only_requests_defects_and_managers_hand_off() -> None:
    from core.knowledge.policy import HandoffPolicy

    policy = HandoffPolicy()
    for text, kind in [
        ("JD sells it cheaper, will you match that price?", "policy"),
        ("孕妇可以喝这个茶吗", "policy"),
        ("我们公司想批发300件，能给什么价", "policy"),  # wholesale prices are staff's to set
        ("Do you offer a bulk discount for 50 units?", "policy"),
        ("The left earbud stopped working after two days", "complaint"),
        ("收到的充电头外壳裂了", "complaint"),
        ("Get me a manager NOW", "explicit"),
    ]:
        decision = policy.before_answer(text, None, (), 0)
        assert decision is not None and decision.kind == kind, text


def test_asking_when_staff_work_is_not_asking_for_staff() -> None:
    from core.knowledge.policy import HandoffPolicy

    policy = HandoffPolicy()
    assert policy.before_answer("人工客服几点上班", None, (), 0) is None
    assert policy.before_answer("帮我转人工客服", None, (), 0) is not None
    assert policy.before_answer("I want a human agent, what time is it", None, (), 0) is not None


def test_a_question_about_another_persons_order_goes_to_staff() -> None:
    decision = HandoffPolicy().before_answer("What did Laura Chen order?", None, (), 0)
    assert decision is not None and decision.kind is HandoffKind.POLICY
    assert "another person" in decision.reasons[0]
    assert HandoffPolicy().before_answer("What did I order?", None, (), 0) is None


@pytest.mark.parametrize(
    "text", ["积分多久过期", "我的优惠券过期了还能用吗", "Have my points expired?"]
)
def test_an_expiring_benefit_is_not_a_damaged_item(text: str) -> None:
    decision = HandoffPolicy().before_answer(text, None, (), 0)
    assert decision is None or decision.kind is not HandoffKind.COMPLAINT


@pytest.mark.parametrize("text", ["收到的牛奶已经过期了", "the sunscreen I got has expired"])
def test_expired_goods_are_still_a_complaint(text: str) -> None:
    decision = HandoffPolicy().before_answer(text, None, (), 0)
    assert decision is not None and decision.kind is HandoffKind.COMPLAINT


@pytest.mark.parametrize(
    "text",
    [
        "the charger overheated and melted the cable",
        "插座冒火花了，孩子差点触电",
        "my daughter got burned by the handle",
        "吹风机有焦味",
    ],
)
def test_safety_incidents_always_hand_off(text: str) -> None:
    policy = HandoffPolicy(HandoffPolicyConfig(handoff_on_damage=False))
    decision = policy.before_answer(text, None, [], FRESH)
    assert decision is not None and decision.kind == "complaint"
    assert "safety incident" in decision.reasons[0]


@pytest.mark.parametrize(
    "text", ["does the kettle switch off before it overheats?", "is the pan safe for a smoker?"]
)
def test_asking_whether_something_is_safe_is_not_an_incident(text: str) -> None:
    assert HandoffPolicy().before_answer(text, None, [], FRESH) is None


def test_a_staff_only_word_the_shop_sells_for_is_its_ordinary_vocabulary() -> None:
    from core.knowledge.policy import catalog_words
    from tests.knowledge.shops import shop

    policy = HandoffPolicy()
    question = "孕妇枕多少钱"
    assert policy.before_answer(question, None, [], FRESH) is not None  # a grocer: staff
    baby = catalog_words(shop("baby").knowledge)
    assert policy.before_answer(question, None, [], FRESH, baby) is None
    assert policy.before_answer("宝宝能用吗", None, [], FRESH, baby) is None  # 婴儿 in the catalog
    food = catalog_words(shop("food").knowledge)
    assert policy.before_answer("宝宝能吃吗", None, [], FRESH, food) is not None


@pytest.mark.parametrize(
    "text",
    [
        "my son threw up twice after the formula, is that normal?",
        "狗狗用了沐浴露以后起疹子了",
        "she has had diarrhoea since Monday",
    ],
)
def test_symptoms_go_to_staff_whatever_the_shop_sells(text: str) -> None:
    decision = HandoffPolicy().before_answer(text, None, [], FRESH)
    assert decision is not None and "health concern" in decision.reasons[0]


@pytest.mark.parametrize("text", ["how big is the oatmeal shampoo bottle?", "吐司机多少钱"])
def test_words_inside_other_words_are_not_symptoms(text: str) -> None:
    assert HandoffPolicy().before_answer(text, None, [], FRESH) is None
