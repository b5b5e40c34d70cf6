"""The operator desk's reads: queues by status, conversations, one conversation in detail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.model.decision import ConversationState, HandoffStatus
from core.model.handoff import take
from core.store.console import ConsoleReads
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from tests.conftest import make_turn
from tests.handoff.helpers import open_handoff


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    yield opened
    await opened.close()


async def test_queues_conversations_and_detail(store: Store) -> None:
    waiting = await open_handoff(store, chat="a")
    taken = await open_handoff(store, chat="b", platform="web")
    await HandoffRecords(store).apply(taken, take("Mei"))
    await store.record_turn(make_turn("staff thread", chat="ops", platform="web"))
    reads = ConsoleReads(store, ("web", "ops"))
    [open_] = await reads.queue((HandoffStatus.OPEN,))
    [held] = await reads.queue((HandoffStatus.TAKEN,))
    assert (open_.id, open_.opened, held.id, held.taken_by) == (waiting.id, False, taken.id, "Mei")
    listed = await reads.conversations()
    assert {c.key.chat_id for c in listed} == {"a", "b"}  # the desk's thread is left out
    [web] = await reads.conversations(platform="web", state=ConversationState.HANDOFF)
    assert web.turns == 1 and web.last_text.startswith("我要投诉")
    assert await reads.platforms() == ["telegram", "web"]
    detail = await reads.detail(waiting.conversation_id)
    assert detail is not None and [t.text for t in detail.turns] == ["我要投诉，鞋子坏了"]
    assert [d.kind for d in detail.decisions] == ["handoff"] and detail.handoffs[0].id == waiting.id
    assert await reads.detail(9999) is None
    assert (await reads.handoff(taken.id)) == held and await reads.handoff(9999) is None
    assert (await reads.key_of(waiting.conversation_id)) == waiting.customer_key
    depths = await reads.depths()
    assert depths["inbox.done"] == 2 and depths["outbox.pending"] == 2
