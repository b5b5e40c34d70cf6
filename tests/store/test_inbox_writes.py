"""Inbox writes: concurrent puts share transactions without losing or doubling a turn."""

from __future__ import annotations

import asyncio

from core.store.store import Store
from tests.conftest import make_turn


async def test_concurrent_puts_with_duplicates_inside_one_batch(store: Store) -> None:
    turns = [make_turn(f"q{i}", chat=f"c{i % 7}", message_id=f"m{i % 50}") for i in range(150)]
    results = await asyncio.gather(*(store.put(t) for t in turns))
    fresh = [r for r in results if not r.duplicate]
    assert len(fresh) == 50
    by_message: dict[str, set[int]] = {}
    for turn, result in zip(turns, results, strict=True):
        by_message.setdefault(turn.message_id, set()).add(result.turn_id)
    assert all(len(ids) == 1 for ids in by_message.values())
    counts = await store.counts()
    assert counts["turns"] == 50 and counts["inbox.pending"] == 50 and counts["conversations"] == 7


async def test_two_processes_racing_on_the_same_messages(store_url: str) -> None:
    first, second = await Store.open(store_url), await Store.open(store_url)
    try:
        turns = [make_turn(f"q{i}", message_id=f"race-{i}") for i in range(40)]
        results = await asyncio.gather(*(s.put(t) for t in turns for s in (first, second)))
        assert sum(not r.duplicate for r in results) == 40
        assert (await first.counts())["turns"] == 40
    finally:
        await first.close()
        await second.close()


async def test_batches_wake_the_worker_listener(store: Store) -> None:
    woken = []
    store.on_new_turn(lambda: woken.append(1))
    await asyncio.gather(*(store.put(make_turn(f"q{i}")) for i in range(10)))
    assert woken
