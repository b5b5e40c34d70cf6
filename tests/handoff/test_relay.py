"""Relay helpers and the turns the relay leaves alone (the paths are in tests/answering/test_answer.py)."""

from __future__ import annotations

from pathlib import Path

from core.handoff.relay import (
    DRAFT_REASON,
    MAX_DRAFT_CHARS,
    HandoffRelay,
    desk_key,
    draft_reason,
)
from core.model.turn import ConversationKey, Role, Sender, TextPart, Turn
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from tests.handoff.helpers import ThreadDesk


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
