"""open_heads: the oldest open row of each conversation, if ready, found page by page."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from core.store.db import is_in
from core.store.heads import open_heads
from core.store.schema import inbox
from core.store.store import Store
from tests.conftest import make_turn

_OPEN = (
    select(inbox.c.id, inbox.c.conversation_id, inbox.c.status)
    .where(is_in(inbox.c.status, "pending", "processing"), inbox.c.id > bindparam("after"))
    .order_by(inbox.c.id)
    .limit(bindparam("page"))
)


async def _fill(store: Store, chats: str) -> None:
    for index, chat in enumerate(chats):
        await store.put(make_turn(f"q{index}", chat=chat, message_id=f"m{index}"))


async def test_only_each_conversations_oldest_open_row_is_a_head(store: Store) -> None:
    await _fill(store, "AABACB")
    heads = await store.db.read(lambda c: open_heads(c, _OPEN, lambda r: True, 10, page=2))
    assert [h.id for h in heads] == [1, 3, 5]  # A's first, B's first, C's first


async def test_a_head_that_is_not_ready_still_blocks_its_conversation(store: Store) -> None:
    await _fill(store, "AABB")
    heads = await store.db.read(
        lambda c: open_heads(c, _OPEN, lambda r: r.id != 1, 10, page=3)  # A's head is busy
    )
    assert [h.id for h in heads] == [3]


async def test_paging_stops_at_the_limit(store: Store) -> None:
    await _fill(store, "ABCDEFGH")
    heads = await store.db.read(lambda c: open_heads(c, _OPEN, lambda r: True, 3, page=2))
    assert [h.id for h in heads] == [1, 2, 3]


async def test_a_long_queue_in_one_conversation_does_not_hide_the_others(store: Store) -> None:
    await _fill(store, "AAAAAAAAAB")
    heads = await store.db.read(lambda c: open_heads(c, _OPEN, lambda r: r.id != 1, 5, page=2))
    assert [h.id for h in heads] == [10]
