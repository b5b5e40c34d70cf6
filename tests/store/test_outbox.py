"""Outbox claims in order per conversation, batched delivery marks, retries and dead letters."""

from __future__ import annotations

import asyncio

from core.model.decision import Completion, Decision, DecisionKind
from core.model.turn import ConversationKey, Reply
from core.store.outbox import OutboxQueue
from core.store.queue import InboxQueue
from core.store.store import Store
from tests.conftest import make_turn


def _completion(key: ConversationKey, *texts: str) -> Completion:
    replies = tuple(Reply(key, t) for t in texts or ("ok",))
    return Completion(
        replies=replies, decision=Decision(DecisionKind.ANSWER, 0.9, reasons=("test",))
    )


async def _answered(store: Store, chat: str, *texts: str) -> None:
    await store.put(make_turn("q", chat=chat))
    queue = InboxQueue(store, "w1")
    (claim,) = await queue.claim(1)
    await queue.complete(claim, claim.turn.key, _completion(claim.turn.key, *texts))
    await queue.close()


async def test_outbox_retry_later_and_dead_letter(store: Store) -> None:
    await _answered(store, "A")
    outbox = OutboxQueue(store)
    (row,) = await outbox.claim(1)
    await outbox.retry_later(row, 60, "boom")
    assert await outbox.claim(1) == []  # not due yet
    assert await outbox.next_due() is not None
    await outbox.dead(row, "gave up")
    assert (await store.counts())["outbox.dead"] == 1


async def test_deliveries_finishing_together_are_marked_in_one_go(store: Store) -> None:
    for chat in "ABCDEF":
        await _answered(store, chat, f"answer for {chat}")
    outbox = OutboxQueue(store)
    rows = await outbox.claim(10)
    assert len(rows) == 6 and await outbox.claim(10) == []  # all leased
    await asyncio.gather(*(outbox.delivered(row, [f"p{row.id}"]) for row in rows))
    await outbox.close()
    delivered = await store.delivered_outbox()
    assert [d["platform_message_ids"] for d in delivered] == [[f"p{r.id}"] for r in rows]
    assert all(d["attempts"] == 1 and d["delivered_at"] is not None for d in delivered)
    assert await outbox.undelivered_count() == 0


async def test_claim_skips_platforms_this_dispatcher_does_not_serve(store: Store) -> None:
    await _answered(store, "A")
    outbox = OutboxQueue(store)
    assert await outbox.claim(5, platforms=["slack"]) == []
    assert len(await outbox.claim(5, platforms=["test"])) == 1


async def test_parts_recorded_by_a_killed_dispatcher_come_back_with_its_row(store: Store) -> None:
    await _answered(store, "A", "a long answer")
    first = OutboxQueue(store, lease_s=0.1)
    (row,) = await first.claim(1)
    assert row.platform_message_ids is None and not row.taken_over  # a first claim
    await first.parts_sent(row, ["501", "502"])  # then the process is killed
    await asyncio.sleep(0.2)  # its lease runs out
    second = OutboxQueue(store)
    (again,) = await second.claim(1)
    assert again.id == row.id and again.platform_message_ids == ["501", "502"]
    assert again.taken_over  # its next part may have been sent unrecorded: counted
    await second.delivered(again, ["501", "502", "503"])
    await second.close()
    await first.close()
    (delivered,) = await store.delivered_outbox()
    assert delivered["platform_message_ids"] == ["501", "502", "503"]
