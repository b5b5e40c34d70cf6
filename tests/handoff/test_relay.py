"""Relay helpers and the turns the relay leaves alone (the paths are in tests/answering/test_answer.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core.answering.answer import Answerer, AnswerSettings
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.handoff.relay import (
    DRAFT_REASON,
    MAX_DRAFT_CHARS,
    OWNER_TARGET,
    HandoffRelay,
    desk_key,
    draft_reason,
)
from core.model.decision import ConversationState, DecisionKind, HandoffStatus
from core.model.turn import Command, ConversationKey, ReplyKind, Role, Sender, TextPart, Turn
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from tests.handoff.helpers import ThreadDesk, answer_next, open_handoff


def test_keys_and_refs() -> None:
    assert desk_key(12) == ConversationKey("handoff", "12", "")
    assert draft_reason("  size 42  ") == DRAFT_REASON + "size 42"
    assert len(draft_reason("x" * 9000)) == len(DRAFT_REASON) + MAX_DRAFT_CHARS


async def test_only_staff_in_a_handoff_thread_are_handled(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    try:
        relay = HandoffRelay(HandoffRecords(store), [ThreadDesk()])
        staff = Sender("U1", "alice", Role.STAFF)
        for key, sender in (
            (ConversationKey("slack", "C1", "1.2"), staff),  # no such handoff
            (ConversationKey("slack", "D1", ""), staff),  # not a thread
            (ConversationKey("telegram", "42", "1.2"), staff),  # not Slack
            (ConversationKey("slack", "C1", "1.2"), Sender("42", "", Role.CUSTOMER)),
        ):
            assert await relay.staff_turn(Turn(key, sender, "m1", (TextPart("hi"),))) is None
    finally:
        await store.close()


OWNER = Sender("9001", "Mei", Role.STAFF)
BIZ = ConversationKey("telegram", "42", "biz:bc1")


def _owner_turn(message_id: str, text: str = "Mei here, yes we ship there") -> Turn:
    return Turn(BIZ, OWNER, message_id, (TextPart(text),), command=Command.TAKEOVER)


def _customer(message_id: str, text: str = "and to Suzhou?", **kwargs: Any) -> Turn:
    return Turn(BIZ, Sender("42", "Ada", Role.CUSTOMER), message_id, (TextPart(text),), **kwargs)


async def _answerer(tmp_path: Path, quiet_minutes: float = 720.0) -> tuple[Store, Answerer]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    brain = PromptBrain()
    settings = AnswerSettings(owner_quiet_minutes=quiet_minutes)
    return store, Answerer(store, StubEngine(), {Role.CUSTOMER: brain, Role.STAFF: brain},
                           settings=settings, desks=[ThreadDesk()])  # fmt: skip


async def test_the_owner_replying_opens_a_handoff_the_owner_holds(tmp_path: Path) -> None:
    store, answerer = await _answerer(tmp_path)
    try:
        taken = await answer_next(store, answerer, _owner_turn("42:7:biz:bc1"))
        assert taken.replies == () and taken.new_state is ConversationState.HANDOFF
        assert taken.decision.kind is DecisionKind.TAKE
        conversation = await store.conversation(BIZ)
        assert conversation.state is ConversationState.HANDOFF
        record = await HandoffRecords(store).active(conversation.id)
        assert record is not None and record.status is HandoffStatus.TAKEN
        assert (record.target, record.taken_by) == (OWNER_TARGET, "Mei")
        assert await HandoffRecords(store).unopened() == []  # no desk opens it
        again = await answer_next(store, answerer, _owner_turn("42:8:biz:bc1", "one more"))
        assert again.decision.kind is DecisionKind.TAKE
        assert await HandoffRecords(store).active(conversation.id) == record  # not a second one
        quiet = await answer_next(store, answerer, _customer("42:9:biz:bc1"))
        assert quiet.replies == () and quiet.decision.kind is DecisionKind.RELAY
        history = await store.history(conversation.id, 5)
        assert [h.text for h in history if h.role is Role.STAFF] == [
            "Mei here, yes we ship there", "one more",
        ]  # fmt: skip
        human = await answer_next(
            store, answerer, _customer("42:10:biz:bc1", command=Command.HUMAN)
        )
        assert human.replies[0].kind is ReplyKind.NOTICE  # already with a person
    finally:
        await store.close()


async def test_the_bot_is_back_after_the_owner_was_quiet(tmp_path: Path) -> None:
    store, answerer = await _answerer(tmp_path, quiet_minutes=0.2 / 60)
    try:
        await answer_next(store, answerer, _owner_turn("42:7:biz:bc1"))
        await asyncio.sleep(0.3)
        back = await answer_next(store, answerer, _customer("42:9:biz:bc1", "anyone?"))
        assert back.replies[0].text == "Echo: anyone?"
        assert back.new_state is ConversationState.BOT
        conversation = await store.conversation(BIZ)
        assert await HandoffRecords(store).active(conversation.id) is None
    finally:
        await store.close()


async def test_the_owner_takes_an_open_handoff(tmp_path: Path) -> None:
    store, answerer = await _answerer(tmp_path, quiet_minutes=0)
    try:
        record = await open_handoff(store, chat="42", platform="telegram")
        owner = Turn(record.customer_key, OWNER, "o1", (TextPart("I'll handle it"),),
                     command=Command.TAKEOVER)  # fmt: skip
        await answer_next(store, answerer, owner)
        taken = await HandoffRecords(store).get(record.id)
        assert taken is not None and taken.status is HandoffStatus.TAKEN
        assert taken.taken_by == "Mei" and taken.target == record.target
    finally:
        await store.close()
