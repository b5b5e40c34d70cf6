"""FeedbackRecorder: a thumbs up or down turn is stored, never answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.answering.feedback import FeedbackRecorder
from core.model.decision import DecisionKind
from core.model.turn import Command, ConversationKey, Role
from core.store.store import Store
from tests.conftest import make_turn


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    yield opened
    await opened.close()


async def test_clicks_are_stored_once_and_bad_ones_ignored(store: Store) -> None:
    question = make_turn("price of the shirt?", chat="D1", platform="slack", role=Role.STAFF)
    rated = (await store.put(question)).turn_id
    recorder = FeedbackRecorder(store)
    conversation = await store.conversation(ConversationKey("slack", "D1"))

    def click(command: Command, arg: str, click_id: str = "D1:action:1.1"):  # type: ignore[no-untyped-def]
        return make_turn("👍", chat="D1", platform="slack", role=Role.STAFF, command=command,
                         command_arg=arg, message_id=click_id)  # fmt: skip

    stored = await recorder.record(click(Command.THUMBS_UP, str(rated)), conversation)
    assert stored.replies == () and stored.decision.kind is DecisionKind.FEEDBACK
    assert stored.decision.reasons == (f"thumbs up on turn {rated} by User D1", "feedback stored")
    again = await recorder.record(click(Command.THUMBS_UP, str(rated)), conversation)
    assert again.decision.reasons[-1] == "feedback duplicate"
    missing = await recorder.record(click(Command.THUMBS_DOWN, "999", "x:2"), conversation)
    assert (
        missing.decision.kind is DecisionKind.IGNORED
        and "does not exist" in missing.decision.reasons[0]
    )
    nameless = await recorder.record(click(Command.THUMBS_DOWN, "", "x:3"), conversation)
    assert nameless.decision.kind is DecisionKind.IGNORED
