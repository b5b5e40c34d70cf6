"""The demo shop brain end to end: prepare → (stub) engine → assess, as the worker runs it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from bots.shop.brain import ShopBrain, build_brain
from core.answering.bot import Prepared, TurnContext
from core.answering.confidence import score_logprobs
from core.engines.base import GenerationRequest, collect
from core.engines.stub import StubEngine
from core.errors import ConfigError
from core.model.turn import Audience, Role
from core.texts import text
from tests.knowledge.fakes import ScriptedOcr, photo, turn

TODAY = date(2026, 11, 21)
IMAGES = Path(__file__).resolve().parents[2] / "bench" / "eval" / "images"


@pytest.fixture
def ocr() -> ScriptedOcr:
    return ScriptedOcr()


@pytest.fixture
def brain(ocr: ScriptedOcr) -> ShopBrain:
    return build_brain(clock=lambda: TODAY, ocr=ocr)


async def answer(brain: ShopBrain, engine: StubEngine, t, history=()):  # type: ignore[no-untyped-def]
    """The worker's sequence: prepare, then the engine unless decided, then assess."""
    prepared: Prepared = await brain.prepare(t, TurnContext(tuple(history)))
    if prepared.handoff or prepared.direct_reply is not None:
        return prepared, None
    text, logprobs, _ = await collect(engine.generate(GenerationRequest(prepared.messages)))
    return prepared, brain.assess(t, prepared, text, score_logprobs(logprobs))


async def test_order_question_is_answered_by_tools_in_chinese(brain: ShopBrain) -> None:
    engine = StubEngine()
    prepared, assessment = await answer(
        brain, engine, turn("我的订单SO20261118-0107到哪了？", user="1001")
    )
    assert assessment is None and engine.requests == []  # no model needed
    assert prepared.direct_reply is not None
    assert "已发货" in prepared.direct_reply and "SF1418827364509" in prepared.direct_reply


async def test_another_customers_screenshot_learns_nothing(
    brain: ShopBrain, ocr: ScriptedOcr
) -> None:
    screenshot = ocr.script(
        photo((10, 20, 30)), "订单详情\n订单编号：SO20261118-0107\n实付款：¥399.00"
    )
    anna = turn("帮我看看这个订单", user="1002", images=(screenshot,))
    prepared, _ = await answer(brain, StubEngine(), anna)
    unknown = ocr.script(photo((30, 20, 10)), "订单编号：SO20261111-7777")
    prepared_unknown, _ = await answer(
        brain, StubEngine(), turn("帮我看看这个订单", user="1002", images=(unknown,))
    )
    for p in (prepared, prepared_unknown):
        assert p.handoff is not None and p.handoff.kind == "order_not_found"
        assert p.direct_reply is None and p.messages == ()
        assert not [f for f in p.facts if f.source.startswith("order:")]
    # The owner gets the answer from the same screenshot.
    li, _ = await answer(
        brain, StubEngine(), turn("这个订单什么时候到", user="1001", images=(screenshot,))
    )
    assert li.direct_reply is not None and "2026-11-22" in li.direct_reply


async def test_staff_role_on_the_customer_brain_still_sees_any_order(brain: ShopBrain) -> None:
    prepared, _ = await answer(
        brain, StubEngine(), turn("SO20261025-0318", user="U9", platform="slack", role=Role.STAFF)
    )
    assert prepared.direct_reply is not None and "JDV004417782301" in prepared.direct_reply


async def test_price_tag_photo(brain: ShopBrain, ocr: ScriptedOcr) -> None:
    tag = ocr.script(photo((200, 200, 200)), "防风夹克\nWindbreaker Jacket\nJK-3002\n¥299.00")
    prepared, _ = await answer(
        brain, StubEngine(), turn("Is this on sale?", user="1002", images=(tag,))
    )
    assert prepared.direct_reply is not None and "¥239.20 today" in prepared.direct_reply


async def test_open_question_goes_to_the_model_and_a_grounded_answer_is_kept(
    brain: ShopBrain,
) -> None:
    engine = StubEngine(lambda _r: "Yes, the leather backpack fits a 15-inch laptop.")
    prepared, assessment = await answer(
        brain, engine, turn("Will my 15-inch laptop fit in the leather backpack?", user="1006")
    )
    assert len(engine.requests) == 1 and engine.requests[0].messages == prepared.messages
    assert assessment is not None and assessment.handoff is None


async def test_model_inventing_a_price_is_handed_off(brain: ShopBrain) -> None:
    engine = StubEngine(lambda _r: "The leather backpack fits a 15-inch laptop and is ¥399 today.")
    _, assessment = await answer(
        brain, engine, turn("Will my 15-inch laptop fit in the leather backpack?", user="1006")
    )
    assert assessment is not None and assessment.handoff is not None
    assert assessment.handoff.kind == "low_confidence"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我要投诉", "complaint"),
        ("talk to a human", "explicit"),
        ("Can I pay with bitcoin?", "no_knowledge"),
        ("你们答非所问", "repeated_failure"),
    ],
)
async def test_handoff_triggers(brain: ShopBrain, text: str, kind: str) -> None:
    prepared, _ = await answer(brain, StubEngine(), turn(text))
    assert prepared.handoff is not None and prepared.handoff.kind == kind
    assert prepared.handoff.reasons


async def test_thanks_and_greeting(brain: ShopBrain) -> None:
    thanks, _ = await answer(brain, StubEngine(), turn("谢谢！"))
    assert thanks.direct_reply == "不客气！还有什么可以帮您的吗？"
    hello, _ = await answer(brain, StubEngine(), turn("hello"))
    assert hello.direct_reply is not None and hello.direct_reply.startswith("Hello")


def test_knowledge_dir_from_settings(tmp_path: Path) -> None:
    settings = SimpleNamespace(bot=SimpleNamespace(knowledge_dir=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match="does not exist"):
        build_brain(settings, ocr=ScriptedOcr())


@pytest.mark.slow
async def test_real_ocr_reads_a_committed_screenshot() -> None:
    from core.media.images import normalise_image
    from core.media.ocr import OcrReader

    reader = OcrReader()
    try:
        brain = build_brain(clock=lambda: TODAY, ocr=reader)
        shot = normalise_image(
            (IMAGES / "order_0451_en.png").read_bytes()
        )  # OCR reads "S020261116-0451"
        owner, _ = await answer(
            brain, StubEngine(), turn("When will it arrive?", user="1002", images=(shot,))
        )
        assert owner.direct_reply is not None and "SF1416650021987" in owner.direct_reply
        stranger, _ = await answer(
            brain, StubEngine(), turn("When will it arrive?", user="1001", images=(shot,))
        )
        assert stranger.handoff is not None and stranger.handoff.kind == "order_not_found"
    finally:
        await reader.close()


async def test_model_answers_are_not_previewed_live_for_the_shop(brain: ShopBrain) -> None:
    prepared = await brain.prepare(turn("What is your return policy?"), TurnContext())
    assert prepared.messages and prepared.direct_reply is None  # the model writes this one
    assert prepared.stream_preview is False


@pytest.mark.parametrize(
    "question",
    ["我的订单SO20261118-0107到哪了？", "where is my order?", "我的订单到哪了"],
)
async def test_in_a_group_order_details_are_never_posted(brain: ShopBrain, question: str) -> None:
    engine = StubEngine()
    in_group = replace(turn(question, user="1001", chat="-100200"), audience=Audience.GROUP)
    prepared, assessment = await answer(brain, engine, in_group)
    assert assessment is None and engine.requests == []  # nothing of it reaches the model
    assert prepared.direct_reply is not None
    assert "SF1418827364509" not in prepared.direct_reply
    assert "SO20261118" not in prepared.direct_reply
    assert prepared.direct_reply in (text("orders_private_only", "en"),
                                     text("orders_private_only", "zh"))  # fmt: skip
    assert not [f for f in prepared.facts if f.source.startswith("order:")]
    # The same question in the private chat is answered.
    private, _ = await answer(brain, StubEngine(), turn(question, user="1001"))
    assert private.direct_reply != prepared.direct_reply


async def test_in_a_group_shop_questions_are_still_answered(brain: ShopBrain) -> None:
    in_group = replace(turn("可以退货吗？", chat="-100200"), audience=Audience.GROUP)
    prepared, _ = await answer(brain, StubEngine(), in_group)
    assert prepared.direct_reply != text("orders_private_only", "zh")


async def test_a_shop_folder_brings_its_own_order_numbers_and_persona(ocr: ScriptedOcr) -> None:
    food = IMAGES.parent / "shops" / "food" / "knowledge"
    shop = build_brain(clock=lambda: date(2026, 9, 20), ocr=ocr, knowledge_dir=food)
    prepared = await shop.prepare(turn("WX 2026 001233 到哪里了", user="3003"), TurnContext())
    assert prepared.direct_reply is not None and "JDX019928374651" in prepared.direct_reply
    other = await shop.prepare(turn("wx-2026-001233 到哪了", user="3001"), TurnContext())
    assert other.handoff is not None  # not this customer's order: nothing revealed
    open_question = await shop.prepare(turn("铁观音适合什么人喝", user="3001"), TurnContext())
    assert open_question.messages, "an open question goes to the model"
    system = str(open_question.messages[0])
    assert "山岚茶食铺" in system and "小岚" in system and "鹿米" not in system


def test_the_shop_contact_comes_from_the_shop_profile(brain: ShopBrain) -> None:
    from core.answering.bot import ShopContact

    assert isinstance(brain, ShopContact)
    assert "400-820-1234" in brain.shop_contact("en") and "邮箱" in brain.shop_contact("zh")


def test_a_shop_profile_without_a_contact_gives_none(tmp_path: Path) -> None:
    import shutil

    from bots.shop.brain import BOT_DIR

    folder = tmp_path / "knowledge"
    shutil.copytree(BOT_DIR / "knowledge", folder)
    profile = folder / "shop.yaml"
    text = profile.read_text(encoding="utf-8")  # the contact block is the file's last
    profile.write_text(text.split("\ncontact:")[0] + "\n", encoding="utf-8")
    assert build_brain(ocr=None, knowledge_dir=folder).shop_contact("en") == ""
