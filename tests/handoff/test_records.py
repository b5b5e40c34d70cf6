"""Handoff rows: lookups, idempotent transitions, ping claims and transcripts (SQLite and PG)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from core.media.images import ImageLimits, normalise_image
from core.model.decision import Completion, Decision, DecisionKind
from core.model.handoff import resolve, return_to_bot, take
from core.model.turn import ConversationKey, Reply, ReplyKind, Role, Sender, TextPart, Turn
from core.store.handoffs import HandoffRecords
from core.store.schema import decisions, outbox
from core.store.store import Store
from tests.conftest import make_turn, png_bytes
from tests.handoff.helpers import commit, open_handoff


async def decision_kinds(store: Store, conversation_id: int) -> list[str]:
    query = (
        select(decisions.c.kind)
        .where(decisions.c.conversation_id == conversation_id)
        .order_by(decisions.c.id)
    )
    return await store.db.read(lambda conn: [r.kind for r in conn.execute(query)])


async def test_a_new_handoff_is_active_unopened_and_knows_its_trigger(store: Store) -> None:
    record = await open_handoff(store, reasons=("draft withheld: try size 42",))
    records = HandoffRecords(store)
    assert record.status == "open" and record.staff_ref is None and record.active
    assert record.customer_key == ConversationKey("telegram", "c1")
    assert [r.id for r in await records.unopened()] == [record.id]
    assert (await records.active(record.conversation_id)) == record
    turn_id, reasons = await records.trigger(record)
    assert turn_id == (await records.transcript(record.conversation_id, None, 5))[-1].turn_id
    assert "draft withheld: try size 42" in reasons


async def test_staff_ref_is_stored_once_and_finds_the_handoff(store: Store) -> None:
    record = await open_handoff(store)
    records = HandoffRecords(store)
    assert await records.set_staff_ref(record.id, "CSTAFF|1.1", "slack")
    assert not await records.set_staff_ref(record.id, "CSTAFF|2.2", "slack")  # first opener wins
    found = await records.by_staff_ref("CSTAFF|1.1")
    assert found is not None and found.id == record.id and found.staff_ref == "CSTAFF|1.1"
    assert await records.by_staff_ref("CSTAFF|2.2") is None
    assert await records.unopened() == []
    assert await records.active_staff_refs("slack") == ["CSTAFF|1.1"]


async def test_take_acts_once_even_when_clicked_concurrently(store: Store) -> None:
    record = await open_handoff(store)
    records = HandoffRecords(store)
    results = await asyncio.gather(*(records.apply(record, take(f"staff{i}")) for i in range(5)))
    assert results.count(True) == 1
    current = await records.get(record.id)
    assert current is not None and current.status == "taken"
    assert current.taken_by == f"staff{results.index(True)}"
    assert (await decision_kinds(store, record.conversation_id)).count("take") == 1
    assert (await store.conversation(record.customer_key)).state == "handoff"  # still with staff


async def test_return_gives_the_conversation_back_to_the_bot_once(store: Store) -> None:
    record = await open_handoff(store)
    records = HandoffRecords(store)
    assert await records.apply(record, return_to_bot("alice"))
    assert not await records.apply(record, return_to_bot("alice"))
    assert not await records.apply(record, resolve("bob"))  # closed: nothing moves any more
    assert not await records.apply(record, take("bob"))
    current = await records.get(record.id)
    assert current is not None and current.status == "returned" and not current.active
    assert (await store.conversation(record.customer_key)).state == "bot"
    assert await records.active(record.conversation_id) is None
    assert (await decision_kinds(store, record.conversation_id))[-1] == "return"


async def test_resolve_from_taken(store: Store) -> None:
    record = await open_handoff(store)
    records = HandoffRecords(store)
    assert await records.apply(record, take("alice"))
    assert await records.apply(record, resolve("alice"))
    current = await records.get(record.id)
    assert current is not None and (current.status, current.taken_by) == ("resolved", "alice")


async def test_a_ping_is_claimed_once_per_period_with_its_messages(store: Store) -> None:
    record = await open_handoff(store)
    records = HandoffRecords(store)
    wait = timedelta(minutes=1)
    assert await records.due_for_ping(wait, record.created_at + timedelta(seconds=30)) == []
    later = record.created_at + timedelta(minutes=2)
    [due] = await records.due_for_ping(wait, later)
    notice = Reply(record.customer_key, "sorry for the wait", ReplyKind.NOTICE)
    assert await records.claim_ping(due, wait, [notice], ["not taken"], later)
    assert not await records.claim_ping(due, wait, [notice], ["not taken"], later)  # once
    assert await records.due_for_ping(wait, later + timedelta(seconds=30)) == []
    assert len(await records.due_for_ping(wait, later + timedelta(minutes=1))) == 1  # next period
    query = select(outbox).where(outbox.c.turn_id.is_(None))
    rows = await store.db.read(lambda conn: conn.execute(query).all())
    assert [(r.platform, r.payload["text"]) for r in rows] == [("telegram", "sorry for the wait")]
    assert "handoff_timeout" in await decision_kinds(store, record.conversation_id)


async def test_a_taken_handoff_is_never_pinged(store: Store) -> None:
    record = await open_handoff(store)
    records = HandoffRecords(store)
    await records.apply(record, take("alice"))
    assert (
        await records.due_for_ping(timedelta(minutes=1), record.created_at + timedelta(hours=1))
        == []
    )


async def test_transcript_stops_at_the_trigger_and_carries_photos(store: Store) -> None:
    photo = normalise_image(png_bytes((40, 30)), ImageLimits())
    first = make_turn("收到的鞋子是坏的", chat="t", platform="telegram", images=(photo,))
    first_id = await commit(store, first, Completion((), Decision(DecisionKind.ANSWER)))
    later = make_turn("还在吗", chat="t", platform="telegram")
    await commit(store, later, Completion((), Decision(DecisionKind.RELAY)))
    conversation = await store.conversation(first.key)
    records = HandoffRecords(store)
    [entry] = await records.transcript(conversation.id, first_id, 10)
    assert entry.text == "收到的鞋子是坏的" and entry.role is Role.CUSTOMER
    assert [i.sha256 for i in entry.images] == [photo.sha256]
    assert len(await records.transcript(conversation.id, None, 10)) == 2
    assert len(await records.transcript(conversation.id, None, 1)) == 1
    sender, latest = await records.last_customer_turn(conversation.id) or (None, "")
    assert latest == "还在吗" and sender is not None and sender.user_id == "u-t"


async def test_a_relayed_staff_message_is_remembered_once(store: Store) -> None:
    key = ConversationKey("telegram", "c9")
    turn = Turn(key, Sender("U1", "alice", Role.STAFF), "relay:slack:C1:5.5", (TextPart("hi"),))
    records = HandoffRecords(store)
    assert await records.record_relayed(turn)
    assert not await records.record_relayed(turn)
    conversation = await store.conversation(key)
    history = await store.history(conversation.id, 5)
    assert [(h.role, h.text) for h in history] == [(Role.STAFF, "hi")]
