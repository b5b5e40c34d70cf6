"""WriteBatcher: concurrent submissions share a transaction; failures reach the right callers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError, OperationalError

from core.errors import StoreError
from core.store.batching import WriteBatcher
from core.store.store import Store


async def test_concurrent_submissions_share_transactions_and_keep_their_results(
    store: Store,
) -> None:
    batches: list[int] = []

    def double(conn: Connection, items: Sequence[int]) -> list[int]:
        conn.execute(text("SELECT 1"))
        batches.append(len(items))
        return [item * 2 for item in items]

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, double, "test")
    results = await asyncio.gather(*(batcher.submit(i) for i in range(100)))
    await batcher.close()
    assert results == [i * 2 for i in range(100)]
    assert sum(batches) == 100 and len(batches) < 100  # most items shared a transaction


async def test_an_item_that_fails_alone_fails_only_its_caller(store: Store) -> None:
    def odd_fail(_conn: Connection, items: Sequence[int]) -> list[int | Exception]:
        return [ValueError(f"odd {i}") if i % 2 else i for i in items]

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, odd_fail, "test")
    results = await asyncio.gather(*(batcher.submit(i) for i in range(6)), return_exceptions=True)
    await batcher.close()
    assert results[0::2] == [0, 2, 4]
    assert [str(r) for r in results[1::2]] == ["odd 1", "odd 3", "odd 5"]


async def test_a_failed_transaction_is_a_store_error_for_everyone_and_writes_nothing(
    store: Store,
) -> None:
    def write_then_fail(conn: Connection, items: Sequence[int]) -> list[int]:
        conn.execute(text("UPDATE conversations SET failures = 99"))
        raise OperationalError("UPDATE", {}, Exception("disk I/O error"))

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, write_then_fail, "test")
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    await batcher.close()
    assert all(isinstance(r, StoreError) for r in results)


async def test_a_unique_key_race_falls_back_to_one_by_one(store: Store) -> None:
    def racing(_conn: Connection, items: Sequence[int]) -> list[int]:
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    async def alone(item: int) -> int:
        if item == 2:
            raise StoreError("still conflicting")
        return item + 100

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, racing, "test", one_by_one=alone)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    await batcher.close()
    assert results[:2] == [100, 101] and results[3] == 103
    assert isinstance(results[2], StoreError)


async def test_after_runs_once_per_batch(store: Store) -> None:
    calls: list[int] = []
    batcher: WriteBatcher[int, int] = WriteBatcher(
        store.db, lambda _c, items: list(items), "test", after=lambda: calls.append(1)
    )
    await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    await batcher.close()
    assert 1 <= len(calls) < 20


async def test_close_finishes_submitted_writes_first(store: Store) -> None:
    def slow(_conn: Connection, items: Sequence[int]) -> list[int]:
        import time

        time.sleep(0.2)  # on the database thread, not the event loop
        return list(items)

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, slow, "test")
    pending = asyncio.ensure_future(batcher.submit(7))
    await asyncio.sleep(0.01)
    await batcher.close()
    assert await pending == 7


@pytest.mark.parametrize("count", [1, 300])
async def test_batches_never_exceed_max_batch(store: Store, count: int) -> None:
    sizes: list[int] = []

    def record(_conn: Connection, items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        return list(items)

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, record, "test", max_batch=64)
    await asyncio.gather(*(batcher.submit(i) for i in range(count)))
    await batcher.close()
    assert sum(sizes) == count and max(sizes) <= 64


async def test_an_unexpected_error_fails_the_callers_instead_of_leaving_them_waiting(
    store: Store,
) -> None:
    def broken(_conn: Connection, items: Sequence[int]) -> list[int]:
        return []  # one result short: zip(strict=True) raises ValueError

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, broken, "test")
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True), 5
    )
    assert all(isinstance(r, StoreError) for r in results)
    with pytest.raises(StoreError):  # the batcher still answers the next caller
        await asyncio.wait_for(batcher.submit(1), 5)
    await batcher.close()


async def test_one_bad_item_fails_alone_and_the_rest_of_its_batch_commits(store: Store) -> None:
    def write(conn: Connection, items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise OperationalError("INSERT", {}, Exception("value too long"))
        conn.execute(text("SELECT 1"))
        return list(items)

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, write, "test")
    results = await asyncio.gather(*(batcher.submit(i) for i in (11, 12, 13, 14)),
                                   return_exceptions=True)  # fmt: skip
    await batcher.close()
    assert results[:2] == [11, 12] and results[3] == 14
    assert isinstance(results[2], StoreError)


async def test_submit_after_close_is_refused(store: Store) -> None:
    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, lambda _c, i: list(i), "test")
    assert await batcher.submit(1) == 1
    await batcher.close()
    with pytest.raises(StoreError):
        await batcher.submit(2)


async def test_waiting_counts_items_queued_and_in_the_transaction_under_way(
    store: Store,
) -> None:
    import threading

    if store.db.dialect != "sqlite":
        pytest.skip("holds a transaction open from its database thread, which SQLite has")
    release, seen = threading.Event(), []

    def slow(_conn: Connection, items: Sequence[int]) -> list[int]:
        release.wait(5)  # on the database thread: the event loop goes on meanwhile
        seen.append(len(items))
        return list(items)

    batcher: WriteBatcher[int, int] = WriteBatcher(store.db, slow, "test")
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.05)  # the first item is being written
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 4)]
    await asyncio.sleep(0)
    assert batcher.waiting == 4  # 1 in the transaction + 3 queued
    release.set()
    assert await asyncio.gather(first, *rest) == [0, 1, 2, 3]
    assert batcher.waiting == 0
    await batcher.close()
    assert store.inbound_waiting() == 0  # the store's inbox batcher, idle
