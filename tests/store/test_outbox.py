"""Outbox claims in order per conversation, batched delivery marks, retries and dead letters."""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection

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
    assert await outbox.retry_later(row, 0.2, "boom")
    assert await outbox.claim(1) == []  # not due yet
    assert await outbox.next_due() is not None
    await asyncio.sleep(0.3)
    (again,) = await outbox.claim(1)
    assert not await outbox.dead(row, "from a spent claim")  # its token is the old one
    assert await outbox.dead(again, "gave up")
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


async def test_a_take_over_fences_off_the_lapsed_holder(store: Store) -> None:
    """A holder starved past its lease is replaced: from then on it may neither send (its
    check says so), renew, record parts, mark delivered nor reschedule; the new holder can."""
    await _answered(store, "A", "a long answer")
    starved = OutboxQueue(store, lease_s=0.2)
    (stale,) = await starved.claim(1)
    assert await starved.holds(stale)
    await asyncio.sleep(0.3)  # alive but starved: no renewal, the lease runs out
    taker = OutboxQueue(store)
    (row,) = await taker.claim(1)
    assert row.taken_over and row.lease_token == stale.lease_token + 1
    assert not await starved.holds(stale)  # checked before a send: not sent
    assert not await starved.renew(stale)
    assert not await starved.parts_sent(stale, ["901"])
    assert not await starved.retry_later(stale, 0, "late failure")
    assert await taker.holds(row) and await taker.parts_sent(row, ["501"])
    assert not await starved.delivered(stale, ["901"])  # refused: counted by its caller
    assert await taker.delivered(row, ["501", "502"])
    await asyncio.gather(starved.close(), taker.close())
    (delivered,) = await store.delivered_outbox()
    assert delivered["platform_message_ids"] == ["501", "502"]  # the stale marks left no trace


async def test_a_send_needs_a_margin_of_lease_left_and_a_renewal_restores_it(
    store: Store,
) -> None:
    await _answered(store, "A")
    outbox = OutboxQueue(store, lease_s=2.0, margin_s=1.0)
    (row,) = await outbox.claim(1)
    assert await outbox.holds(row)
    await asyncio.sleep(1.2)  # still ours, but too close to the end to start a send
    assert not await outbox.holds(row)
    assert await outbox.renew(row)  # a heartbeat: the full lease again
    assert await outbox.holds(row)
    assert await outbox.release([row]) == 1 and not await outbox.holds(row)


async def test_batched_delivered_marks_are_refused_only_for_stale_tokens(store: Store) -> None:
    for chat in "AB":
        await _answered(store, chat, f"answer for {chat}")
    starved = OutboxQueue(store, lease_s=0.2)
    first, second = await starved.claim(2)
    await asyncio.sleep(0.3)
    taker = OutboxQueue(store)
    await starved.renew(second)  # renewed before the take-over: kept
    (taken,) = await taker.claim(2)
    assert taken.id == first.id
    marks = await asyncio.gather(
        starved.delivered(first, ["p1"]), starved.delivered(second, ["p2"])
    )  # batched into one transaction when they meet
    assert marks == [False, True]
    await asyncio.gather(starved.close(), taker.close())
    assert [d["id"] for d in await store.delivered_outbox()] == [second.id]


async def test_migration_0011_adds_the_token_column_and_is_reversible(
    store_url: str,
) -> None:
    from alembic import command
    from sqlalchemy import inspect, text

    from core.store.db import Database, migration_config

    def columns(conn: Connection) -> set[str]:
        return {c["name"] for c in inspect(conn).get_columns("outbox")}

    old = Database(store_url)
    await old.write(lambda conn: command.upgrade(migration_config(conn), "0010"))
    # A database made before the token existed (0001 builds today's schema, so drop it).
    await old.write(lambda conn: conn.execute(text("ALTER TABLE outbox DROP COLUMN lease_token")))
    await old.dispose()
    store = await Store.open(store_url)  # migrates to head
    try:
        assert "lease_token" in await store.db.read(columns)
        await _answered(store, "A")
        outbox = OutboxQueue(store)
        (row,) = await outbox.claim(1)
        assert row.lease_token == 1 and await outbox.delivered(row, ["p1"])
        await outbox.close()
        await store.db.write(lambda conn: command.downgrade(migration_config(conn), "0010"))
        assert "lease_token" not in await store.db.read(columns)
    finally:
        await store.close()
