"""The staff assistant: any order, customers by platform identity, never a handoff."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bots.staff.brain import StaffBrain, build_brain
from core.answering.bot import TurnContext
from core.answering.confidence import score_logprobs
from core.engines.base import TokenLogprob
from core.model.turn import Role
from tests.knowledge.fakes import ScriptedOcr, photo, turn

FOOD = Path(__file__).resolve().parents[2] / "bench" / "eval" / "shops" / "food" / "knowledge"


@pytest.fixture
def ocr() -> ScriptedOcr:
    return ScriptedOcr()


@pytest.fixture
def brain(ocr: ScriptedOcr) -> StaffBrain:
    return build_brain(clock=lambda: date(2026, 11, 21), ocr=ocr)


def staff(text: str = "", **kwargs):  # type: ignore[no-untyped-def]
    return turn(text, user="U024BE7LH", platform="slack", role=Role.STAFF, **kwargs)


async def test_any_order_with_the_customer(brain: StaffBrain) -> None:
    prepared = await brain.prepare(staff("SO20261025-0318 status?"), TurnContext())
    assert prepared.direct_reply is not None
    assert (
        "JDV004417782301" in prepared.direct_reply and "C002 Anna Schmidt" in prepared.direct_reply
    )
    assert "telegram:1002" in prepared.direct_reply


async def test_order_from_a_screenshot(brain: StaffBrain, ocr: ScriptedOcr) -> None:
    shot = ocr.script(photo((1, 1, 1)), "订单编号：SO20261117-0788")
    prepared = await brain.prepare(staff("这单什么情况", images=(shot,)), TurnContext())
    assert prepared.direct_reply is not None and "SF1417720938411" in prepared.direct_reply


async def test_unknown_order_is_said_plainly(brain: StaffBrain) -> None:
    prepared = await brain.prepare(staff("SO20991231-0001"), TurnContext())
    assert prepared.direct_reply == "Order SO20991231-0001 does not exist."


async def test_orders_of_a_customer_by_identity(brain: StaffBrain) -> None:
    prepared = await brain.prepare(staff("orders of telegram 1001"), TurnContext())
    assert prepared.direct_reply is not None
    assert prepared.direct_reply.count("Order SO") == 3


async def test_nothing_found_instead_of_a_handoff(brain: StaffBrain) -> None:
    prepared = await brain.prepare(staff("Do we sell laptops?"), TurnContext())
    assert prepared.handoff is None
    assert prepared.direct_reply == "Nothing in the shop's knowledge or orders matches that."


async def test_policy_text_is_quoted(brain: StaffBrain) -> None:
    prepared = await brain.prepare(staff("退货运费谁出"), TurnContext())
    assert prepared.direct_reply is not None and "顺丰12元" in prepared.direct_reply


async def test_a_customer_turn_gets_no_staff_rights(brain: StaffBrain) -> None:
    prepared = await brain.prepare(turn("SO20261025-0318", user="1001"), TurnContext())
    assert (
        prepared.handoff is None
        and prepared.direct_reply == "Nothing in the shop's knowledge or orders matches that."
    )


async def test_assess_never_hands_off(brain: StaffBrain) -> None:
    t = staff("Will a 15-inch laptop fit in the leather backpack?")
    prepared = await brain.prepare(t, TurnContext())
    assessment = brain.assess(
        t, prepared, "It costs ¥1.", score_logprobs([TokenLogprob("x", -3.0)])
    )
    assert assessment.handoff is None and assessment.confidence.score <= 0.3


async def test_orders_in_another_shops_own_number_form(ocr: ScriptedOcr) -> None:
    brain = build_brain(clock=lambda: date(2026, 9, 20), ocr=ocr, knowledge_dir=FOOD)
    prepared = await brain.prepare(staff("where is wx 2026 001233"), TurnContext())
    assert prepared.direct_reply is not None
    assert "JDX019928374651" in prepared.direct_reply and "F03" in prepared.direct_reply
