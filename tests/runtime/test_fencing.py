"""RowProgress: a lane's check before each send, and its record, fenced by the outbox token."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import LeaseLostError
from core.runtime.fencing import FenceStage, RowProgress
from core.store.outbox import OutboxQueue
from core.store.store import Store
from tests.store.test_outbox import _answered


async def test_a_held_row_sends_and_records_its_parts(store: Store) -> None:
    await _answered(store, "A")
    queue = OutboxQueue(store)
    (row,) = await queue.claim(1)
    progress = RowProgress(queue, row)
    await progress.ensure_held()
    await progress.parts_sent(("m1",))
    assert progress.fenced_at is None
    await queue.close()


async def test_a_taken_over_row_is_fenced_before_the_send_and_at_the_record(
    store: Store,
) -> None:
    await _answered(store, "A")
    lapsed = OutboxQueue(store, lease_s=0.3, margin_s=0.0)
    (row,) = await lapsed.claim(1)
    await asyncio.sleep(0.4)  # the lease runs out
    taker = OutboxQueue(store, lease_s=30)
    assert len(await taker.claim(1)) == 1  # taken over: the token moves on
    progress = RowProgress(lapsed, row)
    with pytest.raises(LeaseLostError):
        await progress.ensure_held()
    assert progress.fenced_at is FenceStage.SEND
    record = RowProgress(lapsed, row)
    with pytest.raises(LeaseLostError):
        await record.parts_sent(("m1",))
    assert record.fenced_at is FenceStage.RECORD
    await asyncio.gather(lapsed.close(), taker.close())
