"""Inbox claims (ordering, one in flight per conversation, leases) and batched completions."""

from __future__ import annotations

import asyncio

import pytest

from core.model.decision import Completion, ConversationState, Decision, DecisionKind
from core.model.turn import ConversationKey, Reply
from core.store.outbox import OutboxQueue
from core.store.queue import InboxQueue, LeaseLost
from core.store.store import Store
from tests.conftest import make_turn


def _completion(key: ConversationKey, text: str = "ok") -> Completion:
    return Completion(
        replies=(Reply(key, text),), decision=Decision(DecisionKind.ANSWER, 0.9, reasons=("test",))
    )


async def test_claim_hands_out_only_the_oldest_turn_per_conversation(store: Store) -> None:
    for index in range(3):
        await store.put(make_turn(f"a{index}", chat="A"))
    await store.put(make_turn("b0", chat="B"))
    queue = InboxQueue(store, "w1")
    claims = await queue.claim(10)
    assert len(claims) == 2  # one for A, one for B
    assert await queue.claim(10) == []  # A's next turn waits for A's first


async def test_turns_of_a_conversation_complete_in_order(store: Store) -> None:
    ids = [(await store.put(make_turn(f"q{i}", chat="A"))).turn_id for i in range(3)]
    queue = InboxQueue(store, "w1")
    seen = []
    for _ in range(3):
        (claim,) = await queue.claim(10)
        seen.append(claim.turn_id)
        await queue.complete(
            claim, ConversationKey("test", "A"), _completion(ConversationKey("test", "A"))
        )
    assert seen == ids


async def test_expired_lease_is_reclaimed_and_the_old_owner_cannot_commit(store: Store) -> None:
    await store.put(make_turn("q", chat="A"))
    crashed = InboxQueue(store, "crashed", lease_s=0.05)
    (stale,) = await crashed.claim(1)
    assert await InboxQueue(store, "other").claim(1) == []  # lease still valid
    await asyncio.sleep(0.1)
    rescuer = InboxQueue(store, "rescuer")
    (claim,) = await rescuer.claim(1)
    assert claim.attempts == 2
    with pytest.raises(LeaseLost):
        await crashed.complete(
            stale, ConversationKey("test", "A"), _completion(ConversationKey("test", "A"))
        )
    await rescuer.complete(
        claim, ConversationKey("test", "A"), _completion(ConversationKey("test", "A"))
    )
    counts = await store.counts()
    assert counts["inbox.done"] == 1 and counts["outbox.pending"] == 1 and counts["decisions"] == 1


async def test_complete_writes_outbox_decision_and_state_atomically(store: Store) -> None:
    key = ConversationKey("test", "A")
    await store.put(make_turn("q", chat="A"))
    queue = InboxQueue(store, "w1")
    (claim,) = await queue.claim(1)
    completion = Completion(
        replies=(Reply(key, "part 1"), Reply(key, "part 2")),
        decision=Decision(DecisionKind.HANDOFF, 0.2, reasons=("low confidence",)),
        new_state=ConversationState.HANDOFF,
        handoff_reason="low confidence",
    )
    ids = await queue.complete(claim, key, completion)
    assert len(ids) == 2
    conversation = await store.conversation(key)
    assert conversation.state == "handoff"
    outbox = OutboxQueue(store)
    rows = await outbox.claim(10)
    assert [r.seq for r in rows] == [1]  # in order: part 2 waits for part 1
    assert rows[0].final is False
    await outbox.delivered(rows[0], ["p1"])
    (second,) = await outbox.claim(10)
    assert second.seq == 2 and second.final is True
    assert (await outbox.reply_of(second)).text == "part 2"


async def test_a_claim_carries_its_turn_and_conversation(store: Store) -> None:
    await store.put(make_turn("where is my parcel?", chat="A", message_id="m1"))
    (claim,) = await InboxQueue(store, "w1").claim(5)
    assert claim.turn.text == "where is my parcel?" and claim.turn.message_id == "m1"
    assert claim.conversation.id == claim.conversation_id
    assert claim.conversation.key == claim.turn.key and claim.conversation.state == "bot"


async def test_answers_finishing_together_commit_together_and_a_lost_lease_only_fails_its_own(
    store: Store,
) -> None:
    for chat in "ABCD":
        await store.put(make_turn("q", chat=chat))
    queue, thief = InboxQueue(store, "w1", lease_s=0.05), InboxQueue(store, "w2")
    claims = await queue.claim(4)
    await asyncio.sleep(0.1)
    (stolen,) = await thief.claim(1)  # A's lease expired and w2 took it
    results = await asyncio.gather(
        *(queue.complete(c, c.turn.key, _completion(c.turn.key)) for c in claims),
        return_exceptions=True,
    )
    lost = [r for r in results if isinstance(r, LeaseLost)]
    assert len(lost) == 1 and str(stolen.inbox_id) in str(lost[0])
    assert sum(isinstance(r, list) and len(r) == 1 for r in results) == 3
    counts = await store.counts()
    assert counts["inbox.done"] == 3 and counts["outbox.pending"] == 3 and counts["decisions"] == 3
    await queue.close()


async def test_the_same_item_completed_twice_in_one_batch_is_written_once(store: Store) -> None:
    await store.put(make_turn("q", chat="A"))
    queue = InboxQueue(store, "w1")
    (claim,) = await queue.claim(1)
    key = claim.turn.key
    results = await asyncio.gather(
        queue.complete(claim, key, _completion(key, "first")),
        queue.complete(claim, key, _completion(key, "second")),
        return_exceptions=True,
    )
    await queue.close()
    assert sum(isinstance(r, LeaseLost) for r in results) == 1
    counts = await store.counts()
    assert counts["outbox.pending"] == 1 and counts["decisions"] == 1
