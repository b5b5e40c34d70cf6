"""Held turns: stored at once, not claimable (nor their conversation's later turns) until
their pending parts are resolved; leases taken over after a kill; a bounded hold."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from core.media.images import ImageDecoder, ImageLimits
from core.model.turn import ImagePart, TextPart
from core.store.held import HeldTurns
from core.store.queue import InboxQueue
from core.store.store import Store
from tests.conftest import make_turn, png_bytes

PENDING = [{"file_id": "F1", "name": "a.png", "part": 1}]


def _held(store: Store) -> HeldTurns:
    return HeldTurns(store.db, store.notify_new_turns)


async def test_held_turn_blocks_its_conversation_until_resolved(store: Store) -> None:
    held = _held(store)
    placeholder = TextPart("[file a.png (F1) not included: still downloading]")
    turn = replace(make_turn("look", chat="A"), parts=(TextPart("look"), placeholder))
    result = await held.put_held(turn, PENDING, "fetcher", lease_s=30, hold_s=60)
    await store.put(make_turn("and another thing", chat="A"))
    await store.put(make_turn("other chat", chat="B"))
    queue = InboxQueue(store, "w1")
    claims = await queue.claim(10)
    assert [c.turn.text for c in claims] == ["other chat"]  # A's held turn and its follower wait
    assert await held.held_count("test") == 1

    image = await _decoded()
    assert await held.resolve_held(result.turn_id, "fetcher", (TextPart("look"), image))
    (claim,) = await queue.claim(10)
    assert claim.turn_id == result.turn_id and claim.turn.text == "look"
    assert claim.turn.images[0].sha256 == image.sha256
    assert await held.held_count("test") == 0


async def test_a_live_lease_is_not_taken_an_expired_one_is(store: Store) -> None:
    held = _held(store)
    result = await held.put_held(
        make_turn("x", chat="A"), PENDING, "killed", lease_s=0.05, hold_s=60
    )
    await asyncio.sleep(0.1)
    (taken,) = await held.take_held("test", "restarted", lease_s=30, limit=10)
    assert taken.turn_id == result.turn_id and taken.pending == tuple(PENDING)
    assert await held.take_held("test", "third", lease_s=30, limit=10) == []  # leased now
    assert not await held.resolve_held(result.turn_id, "killed", (TextPart("x"),))
    assert await held.renew_held([result.turn_id], "restarted", 30) == {result.turn_id}
    assert await held.renew_held([result.turn_id], "killed", 30) == set()
    assert await held.resolve_held(result.turn_id, "restarted", (TextPart("x"),))
    assert await held.take_held("test", "third", lease_s=30, limit=10) == []


async def test_fresh_lease_is_not_taken(store: Store) -> None:
    held = _held(store)
    await held.put_held(make_turn("x", chat="A"), PENDING, "alive", lease_s=30, hold_s=60)
    assert await held.take_held("test", "other", lease_s=30, limit=10) == []


async def test_an_expired_hold_is_answered_and_can_no_longer_be_resolved(store: Store) -> None:
    held = _held(store)
    result = await held.put_held(make_turn("x", chat="A"), PENDING, "gone", lease_s=30, hold_s=0.05)
    await asyncio.sleep(0.1)
    (claim,) = await InboxQueue(store, "w1").claim(10)
    assert claim.turn_id == result.turn_id
    assert not await held.resolve_held(result.turn_id, "gone", (TextPart("late"),))


async def test_a_duplicate_changes_nothing(store: Store) -> None:
    held = _held(store)
    turn = make_turn("x", chat="A")
    first = await store.put(turn)
    again = await held.put_held(turn, PENDING, "f", lease_s=30, hold_s=60)
    assert again.duplicate and again.turn_id == first.turn_id
    assert await held.held_count("test") == 0
    assert len(await InboxQueue(store, "w1").claim(10)) == 1


async def _decoded() -> ImagePart:
    return await ImageDecoder().normalise(png_bytes((30, 20)), ImageLimits())


async def test_a_renewed_lease_keeps_the_turn_held_past_its_first_hold(store: Store) -> None:
    held = _held(store)
    result = await held.put_held(make_turn("x", chat="A"), PENDING, "slow", lease_s=30, hold_s=0.1)
    assert await held.renew_held([result.turn_id], "slow", lease_s=1.0) == {result.turn_id}
    await asyncio.sleep(0.2)  # past the first hold, not past the renewed lease (plus one)
    assert await InboxQueue(store, "w1").claim(10) == []
