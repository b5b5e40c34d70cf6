"""The dead ends, fixed: no desk means the shop's contact and a bot that keeps answering,
``/reset`` gives the conversation back to the bot, an unknown command gets help, and every
handoff is logged with its reason."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.answering.answer import Answerer, AnswerSettings
from core.answering.fallbacks import NO_DESK_REASON, contact_text
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.model.decision import ConversationState, DecisionKind, HandoffStatus
from core.model.turn import Command, ConversationKey, ReplyKind, Role
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from core.texts import Language, text
from tests.conftest import make_turn
from tests.handoff.helpers import PolicyBrain, ThreadDesk, answer_next

KEY = ConversationKey("telegram", "42")
COMPLAINT = "我要投诉，收到的鞋子是坏的"


class Contact:
    """A shop profile's contact, as the shop brain gives it."""

    def __init__(self, value: str = "phone 400-1234") -> None:
        self.value = value

    def shop_contact(self, language: Language) -> str:
        return self.value


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    yield opened
    await opened.close()


def answerer(store: Store, *, desk: bool, contact: Contact | None = None) -> Answerer:
    return Answerer(
        store, StubEngine(), {Role.CUSTOMER: PolicyBrain(), Role.STAFF: PromptBrain()}, {},
        AnswerSettings(handoff_wait_minutes=7), [ThreadDesk()] if desk else [], contact=contact,
    )  # fmt: skip


def tg(text_: str, command: Command | None = None, arg: str = "") -> object:
    return make_turn(text_, chat="42", platform="telegram", command=command, command_arg=arg)


async def handoffs(store: Store) -> HandoffRecords:
    return HandoffRecords(store)


async def test_without_a_desk_the_customer_gets_the_contact_and_the_bot_keeps_answering(
    store: Store,
) -> None:
    a = answerer(store, desk=False, contact=Contact("phone 400-1234"))
    told = await answer_next(store, a, tg(COMPLAINT))  # type: ignore[arg-type]
    assert told.replies[0].kind is ReplyKind.NOTICE
    assert told.replies[0].text == text("handoff_unavailable", "zh").format(
        contact="phone 400-1234"
    )
    assert told.new_state is None and told.handoff_reason is None
    assert told.decision.kind is DecisionKind.HANDOFF and NO_DESK_REASON in told.decision.reasons
    conversation = await store.conversation(KEY)
    assert conversation.state is ConversationState.BOT
    assert await HandoffRecords(store).latest(conversation.id) is None
    answered = await answer_next(store, a, tg("do you ship to Shanghai"))  # type: ignore[arg-type]
    assert answered.replies[0].text == "Echo: do you ship to Shanghai"
    asked = await answer_next(store, a, tg("/human", Command.HUMAN))  # type: ignore[arg-type]
    assert "phone 400-1234" in asked.replies[0].text


def test_a_shop_without_a_contact_still_says_how_to_go_on() -> None:
    assert contact_text(None, "en") == text("handoff_unavailable_no_contact", "en")
    assert contact_text(Contact("  "), "zh") == text("handoff_unavailable_no_contact", "zh")
    assert "400" in contact_text(Contact("400"), "en")


async def test_a_handoff_left_without_a_desk_goes_back_to_the_bot(store: Store) -> None:
    await answer_next(store, answerer(store, desk=True), tg(COMPLAINT))  # type: ignore[arg-type]
    conversation = await store.conversation(KEY)
    assert conversation.state is ConversationState.HANDOFF
    # Restarted without any desk: nobody could read the customer, so the bot answers.
    answered = await answer_next(store, answerer(store, desk=False), tg("hello?"))  # type: ignore[arg-type]
    assert (
        answered.replies[0].text == "Echo: hello?" and answered.new_state is ConversationState.BOT
    )
    record = await HandoffRecords(store).latest(conversation.id)
    assert record is not None and record.status is HandoffStatus.RETURNED


async def test_reset_returns_a_handed_off_conversation_to_the_bot(store: Store) -> None:
    a = answerer(store, desk=True)
    await answer_next(store, a, tg(COMPLAINT))  # type: ignore[arg-type]
    conversation = await store.conversation(KEY)
    record = await HandoffRecords(store).active(conversation.id)
    assert record is not None
    reset = await answer_next(store, a, tg("/reset", Command.RESET))  # type: ignore[arg-type]
    assert reset.replies[0].text == text("reset_done", "en")
    assert reset.new_state is ConversationState.BOT
    assert any("returned" in r for r in reset.decision.reasons)
    assert (await store.conversation(KEY)).state is ConversationState.BOT
    after = await HandoffRecords(store).get(record.id)
    assert after is not None and after.status is HandoffStatus.RETURNED
    answered = await answer_next(store, a, tg("are you there"))  # type: ignore[arg-type]
    assert answered.replies[0].text == "Echo: are you there"


async def test_reset_outside_a_handoff_changes_no_state(store: Store) -> None:
    reset = await answer_next(store, answerer(store, desk=True), tg("/reset", Command.RESET))  # type: ignore[arg-type]
    assert reset.new_state is None and reset.decision.reasons == ("reset",)


async def test_an_unknown_command_gets_help_not_a_handoff(store: Store) -> None:
    a = answerer(store, desk=True)
    helped = await answer_next(store, a, tg("", Command.UNKNOWN, "foo"))  # type: ignore[arg-type]
    assert helped.replies[0].text == text("unknown_command", "en").format(command="foo")
    assert helped.decision.kind is DecisionKind.NOTICE and helped.new_state is None
    assert helped.handoff_reason is None
    assert (await store.conversation(KEY)).state is ConversationState.BOT


async def test_every_handoff_is_logged_with_its_reason(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="core.answering.answer"):
        await answer_next(store, answerer(store, desk=True), tg(COMPLAINT))  # type: ignore[arg-type]
        await answer_next(store, answerer(store, desk=False), tg("/human", Command.HUMAN))  # type: ignore[arg-type]
    messages = [r.getMessage() for r in caplog.records if r.name == "core.answering.answer"]
    assert any("handoff of telegram|42|" in m and "投诉" in m for m in messages)
    assert any("explicit request" in m and "no staff desk" in m for m in messages)


def test_a_handoff_decision_keeps_its_reasons_and_the_withheld_draft() -> None:
    from core.answering.bot import HandoffDecision
    from core.answering.fallbacks import handoff_decision
    from core.model.decision import HandoffKind

    decision = HandoffDecision(("no facts",), HandoffKind.NO_KNOWLEDGE)
    logged = handoff_decision(decision, None, "It costs ¥9", "m1", "extra")
    assert logged.reasons[:3] == ("handoff:no_knowledge", "no facts", "extra")
    assert len(logged.reasons) == 4 and "¥9" in logged.reasons[3]
    assert handoff_decision(decision, None, "  ", None).reasons == (
        "handoff:no_knowledge",
        "no facts",
    )
