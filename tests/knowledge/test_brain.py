"""KnowledgeBrain: tools first, quotes next, the model last; assess with grounding and policy."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.answering.bot import TurnContext
from core.answering.confidence import score_logprobs
from core.engines.base import GenerationRequest, TokenLogprob, collect
from core.engines.stub import StubEngine
from core.knowledge.assessment import is_repetitive, support_share
from core.knowledge.base import KnowledgeHolder
from core.knowledge.botconfig import load_bot_config
from core.knowledge.brain import KnowledgeBrain
from core.knowledge.policy import HandoffPolicyConfig
from core.model.turn import Command, Confidence, HistoryItem, ImagePart, Role
from tests.knowledge.fakes import ScriptedOcr, photo, turn

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 21)


@pytest.fixture(scope="module")
def holder() -> KnowledgeHolder:
    config = load_bot_config(ROOT / "bots/shop/bot.yaml")
    return KnowledgeHolder(ROOT / "bots/shop/knowledge", config.retrieval.thresholds())


@pytest.fixture
def ocr() -> ScriptedOcr:
    return ScriptedOcr()


@pytest.fixture
def brain(holder: KnowledgeHolder, ocr: ScriptedOcr) -> KnowledgeBrain:
    return KnowledgeBrain(
        load_bot_config(ROOT / "bots/shop/bot.yaml"), holder, ocr=ocr, clock=lambda: TODAY
    )


def confident() -> Confidence:
    return score_logprobs([TokenLogprob(" word", -0.01)] * 10)


async def test_start_command_greets_in_the_customers_language(brain: KnowledgeBrain) -> None:
    prepared = await brain.prepare(turn("/start", command=Command.START), TurnContext())
    assert prepared.direct_reply is not None and prepared.direct_reply.startswith("Hello")
    prepared = await brain.prepare(turn("开始", command=Command.START), TurnContext())
    assert prepared.direct_reply is not None and prepared.direct_reply.startswith("您好")


async def test_explicit_request_hands_off_without_the_model(brain: KnowledgeBrain) -> None:
    prepared = await brain.prepare(turn("转人工"), TurnContext())
    assert prepared.handoff is not None and prepared.handoff.kind == "explicit"
    assert prepared.messages == ()


async def test_photo_without_text_hands_off(brain: KnowledgeBrain, ocr: ScriptedOcr) -> None:
    prepared = await brain.prepare(turn(images=(photo((1, 2, 3)),)), TurnContext())
    assert prepared.handoff is not None and prepared.handoff.kind == "no_knowledge"
    assert len(ocr.calls) == 1


async def test_screenshot_is_read_once_and_answers_in_its_language(
    brain: KnowledgeBrain, ocr: ScriptedOcr
) -> None:
    image = ocr.script(photo((9, 9, 9)), "订单详情\n订单编号:SO20261118-0107")
    prepared = await brain.prepare(turn(images=(image,)), TurnContext())
    assert prepared.ocr_text.startswith("订单详情")
    assert prepared.direct_reply is not None and "快递单号SF1418827364509" in prepared.direct_reply
    assert ocr.calls == [image.sha256]
    sources = [f.source for f in prepared.facts]
    assert sources[0] == "order:SO20261118-0107" and "conversation" in sources


async def test_faq_is_quoted_directly(brain: KnowledgeBrain) -> None:
    prepared = await brain.prepare(turn("Which payment methods do you accept?"), TurnContext())
    assert (
        prepared.direct_reply
        == "We accept Alipay, WeChat Pay, UnionPay and Visa/Mastercard credit cards. Cash on delivery is not available."
    )
    assert prepared.facts[0].source == "faq:payment-methods"


async def test_unknown_topic_hands_off(brain: KnowledgeBrain) -> None:
    prepared = await brain.prepare(turn("Do you sell laptops?"), TurnContext())
    assert prepared.handoff is not None and prepared.handoff.kind == "no_knowledge"


async def test_open_question_builds_a_grounded_prompt(brain: KnowledgeBrain) -> None:
    image = photo((5, 6, 7))
    history = [HistoryItem(Role.CUSTOMER, f"q{i}") for i in range(10)]
    prepared = await brain.prepare(
        turn("Will my 15-inch laptop fit in the leather backpack?", images=(image,)),
        TurnContext(tuple(history)),
    )
    assert prepared.direct_reply is None and prepared.handoff is None
    system = prepared.messages[0]
    assert system.role == "system"
    assert "Lumi" in system.content_text and "Use only the facts" in system.content_text
    assert "fits a 15-inch laptop" in system.content_text
    user = prepared.messages[-1]
    assert user.role == "user" and isinstance(
        user.parts[-1], ImagePart
    )  # the engine's OCR wrapper reads it
    assert len(prepared.messages) == 1 + 4 + 1  # system, last 2 rounds of history, the turn


async def test_product_facts_carry_todays_price(brain: KnowledgeBrain) -> None:
    prepared = await brain.prepare(turn("Is the down jacket warm?"), TurnContext())
    fact = next(f for f in prepared.facts if f.source == "catalog:JK-3001")
    assert "¥479.20 today" in fact.text


async def test_stub_engine_flow_grounded_answer_is_kept(brain: KnowledgeBrain) -> None:
    t = turn("Will my 15-inch laptop fit in the leather backpack?")
    prepared = await brain.prepare(t, TurnContext())
    engine = StubEngine(
        lambda _req: "Yes, the leather backpack fits a 15-inch laptop.", logprob=-0.02
    )
    answer, logprobs, _ = await collect(engine.generate(GenerationRequest(prepared.messages)))
    assessment = brain.assess(t, prepared, answer, score_logprobs(logprobs))
    assert assessment.handoff is None
    names = {c.name for c in assessment.confidence.components}
    assert {"grounding", "support", "retrieval", "language", "logprob_mean"} <= names
    assert assessment.confidence.score > 0.7


async def test_invented_price_is_handed_off_with_the_reason(brain: KnowledgeBrain) -> None:
    t = turn("Will my 15-inch laptop fit in the leather backpack?")
    prepared = await brain.prepare(t, TurnContext())
    assessment = brain.assess(
        t, prepared, "Yes, the leather backpack fits a 15-inch laptop and costs ¥499.", confident()
    )
    assert assessment.handoff is not None and assessment.handoff.kind == "low_confidence"
    assert assessment.confidence.score <= 0.3
    assert any("price '¥499'" in r for r in assessment.handoff.reasons)
    grounding = next(c for c in assessment.confidence.components if c.name == "grounding")
    assert grounding.value == 0.5 and "¥499" in grounding.detail


async def test_off_facts_and_wrong_language_answers_score_low(brain: KnowledgeBrain) -> None:
    t = turn("轻薄羽绒服的充绒量是多少")
    prepared = await brain.prepare(t, TurnContext())
    english = brain.score(
        t, prepared, "I am sorry, as an AI I cannot help with fashion questions today.", confident()
    )
    assert english.score <= 0.3
    assert any("customer's language" in r for r in english.reasons)
    good = brain.score(t, prepared, "轻薄羽绒服充绒量120克，90%白鸭绒。", confident())
    assert good.score > 0.7


async def test_repetitive_and_empty_answers_are_capped(brain: KnowledgeBrain) -> None:
    t = turn("Will my 15-inch laptop fit in the leather backpack?")
    prepared = await brain.prepare(t, TurnContext())
    loop = "The backpack fits a 15-inch laptop. " * 4
    assert brain.score(t, prepared, loop, confident()).score <= 0.2
    assert brain.score(t, prepared, "", confident()).score == 0.0


async def test_two_weak_answers_hand_off(holder: KnowledgeHolder, ocr: ScriptedOcr) -> None:
    config = load_bot_config(ROOT / "bots/shop/bot.yaml")
    strict = config.model_copy(update={"handoff": HandoffPolicyConfig(weak_threshold=0.95)})
    brain = KnowledgeBrain(strict, holder, ocr=ocr, clock=lambda: TODAY)
    t = turn("Will my 15-inch laptop fit in the leather backpack?", chat="weak")
    answer = "Yes, the leather backpack fits a 15-inch laptop."
    unsure = score_logprobs([TokenLogprob(" x", -0.7)] * 10)
    first = brain.assess(t, await brain.prepare(t, TurnContext()), answer, unsure)
    assert first.handoff is None and first.weak and first.confidence.score < 0.95
    # The worker commits the weak answer: the next turn's context counts one failure.
    prepared = await brain.prepare(t, TurnContext(failures=1))
    second = brain.assess(t, prepared, answer, unsure)
    assert second.handoff is not None and second.handoff.kind == "repeated_failure"
    assert second.handoff.reasons[0].startswith("2 weak answers in a row")


def test_support_and_repetition_helpers() -> None:
    from core.answering.bot import Fact

    facts = [Fact("faq:x", "We accept Alipay and WeChat Pay.")]
    assert support_share("We accept Alipay.", facts) == 1.0
    assert support_share("Bitcoin only.", facts) == 0.0
    assert is_repetitive("被赋于赛索，" * 4)
    assert not is_repetitive("订单已发货，预计明天送达。")


async def test_the_draft_guard_stops_at_the_first_invented_fact(brain: KnowledgeBrain) -> None:
    from core.answering.draft import DraftBudget, write_draft

    t = turn("Will my 15-inch laptop fit in the leather backpack?")
    prepared = await brain.prepare(t, TurnContext())
    guard = prepared.guard
    assert guard is not None
    assert guard.doomed("Yes, it fits a 15-inch laptop and costs ¥49") is None  # still writing
    assert guard.doomed("Yes, it fits a 15-inch laptop.") is None
    reason = guard.doomed("It costs ¥499. It")
    assert reason is not None and "price '¥499'" in reason
    engine = StubEngine(lambda _r: "It costs ¥499. " + "More words " * 100)
    draft = await write_draft(
        engine, GenerationRequest(prepared.messages), DraftBudget(), prepared.guard
    )
    assert draft.stopped is not None and "price '¥499'" in draft.stopped
    assert len(draft.logprobs) < 10  # not 200 tokens decoded to be thrown away


@pytest.fixture(scope="module")
def pets_brain() -> KnowledgeBrain:
    config = load_bot_config(ROOT / "bots/shop/bot.yaml")
    folder = ROOT / "bench/eval/shops/pets/knowledge"
    holder = KnowledgeHolder(folder, config.retrieval.thresholds())
    return KnowledgeBrain(config, holder, clock=lambda: date(2026, 12, 16))


async def test_a_policy_question_naming_a_product_is_answered_by_the_policy(
    pets_brain: KnowledgeBrain,
) -> None:
    prepared = await pets_brain.prepare(
        turn("The leash I ordered is still unopened, can I return it?"), TurnContext()
    )
    assert prepared.direct_reply is not None
    assert prepared.facts[0].source == "policy:returns#unopened-items"


async def test_a_products_own_warranty_and_an_order_stay_with_the_tools(
    pets_brain: KnowledgeBrain,
) -> None:
    warranty = await pets_brain.prepare(turn("what warranty does the leash have?"), TurnContext())
    assert warranty.facts[0].source.startswith("spec:PH-LEASH")
    claim = await pets_brain.prepare(turn("how do I claim the leash warranty?"), TurnContext())
    assert claim.facts[0].source.startswith("policy:warranty")
    order = await pets_brain.prepare(turn("PAW1214-118 can I return it?"), TurnContext())
    assert not any(f.source.startswith("policy:returns") for f in order.facts[:1])


async def test_a_chinese_policy_question_with_a_story_around_it_quotes_the_policy(
    pets_brain: KnowledgeBrain,
) -> None:
    prepared = await pets_brain.prepare(
        turn("猫砂打开了，我家猫闻了一下就走开，还能退吗"), TurnContext()
    )
    assert prepared.facts and prepared.facts[0].source == "policy:returns#opened-food-and-litter"


async def test_prices_order_numbers_and_several_questions_skip_the_policy_first_path(
    pets_brain: KnowledgeBrain,
) -> None:
    order = await pets_brain.prepare(turn("PAW1209-142 退款到哪一步了"), TurnContext())
    assert not any(f.source.startswith("policy:") for f in order.facts)  # the order tools'
    assert order.handoff is not None  # not this asker's order: staff, not the refund policy
    several = await pets_brain.prepare(turn("猫砂还有货吗？另外拆开了能退吗"), TurnContext())
    assert several.direct_reply is not None and "PH-LITTER" in several.direct_reply
