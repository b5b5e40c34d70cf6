"""History reads: one statement for many conversations, each as if read on its own."""

from __future__ import annotations

import asyncio

from core.model.turn import Command, ConversationKey, Role
from core.store.history import read_histories, read_history
from core.store.queue import InboxQueue
from core.store.store import Store
from tests.conftest import make_turn


async def _chat(store: Store, chat: str, rounds: int) -> tuple[int, list[int]]:
    """``rounds`` question/answer pairs in ``chat``; its id and the turn ids, in order."""
    ids = []
    for index in range(rounds):
        ids.append(await store.record_turn(make_turn(f"{chat} q{index}", chat=chat)))
        ids.append(await store.record_turn(make_turn(f"{chat} a{index}", chat=chat, role=Role.BOT)))
    conversation = await store.conversation(ConversationKey("test", chat))
    return conversation.id, ids


async def test_each_head_gets_its_own_history_before_its_turn(store: Store) -> None:
    a, a_turns = await _chat(store, "a", 4)
    b, _ = await _chat(store, "b", 2)
    heads = [(b, None), (a, a_turns[4]), (a, a_turns[1])]  # a's third question; a's first answer
    histories = await store.db.read(lambda c: read_histories(c, heads, rounds=1))
    texts = [[item.text for item in history] for history in histories]
    assert texts == [["b q1", "b a1"], ["a q1", "a a1"], ["a q0"]]
    assert histories[0][0].role is Role.CUSTOMER and histories[0][1].role is Role.BOT


async def test_the_batch_read_equals_one_read_per_conversation(store: Store) -> None:
    chats = [await _chat(store, name, 3) for name in "xyz"]
    heads = [(conversation, turns[-1]) for conversation, turns in chats]
    together = await store.db.read(lambda c: read_histories(c, heads, rounds=2))
    apart = [
        await store.db.read(lambda c, h=head: read_history(c, h[0], 2, h[1]))  # type: ignore[misc]
        for head in heads
    ]
    assert together == apart and all(len(h) == 4 for h in together)  # 2 rounds = 4 messages


async def test_commands_and_turns_before_a_reset_are_left_out(store: Store) -> None:
    conversation, _ = await _chat(store, "r", 2)
    await asyncio.sleep(0.01)
    await store.reset_memory(conversation)
    await store.record_turn(make_turn("/help", chat="r", command=Command.HELP))
    await store.record_turn(make_turn("after the reset", chat="r"))
    other, _ = await _chat(store, "s", 1)  # not reset: keeps its history in the same read
    histories = await store.db.read(
        lambda c: read_histories(c, [(conversation, None), (other, None)], rounds=5)
    )
    assert [[i.text for i in h] for h in histories] == [["after the reset"], ["s q0", "s a0"]]


async def test_no_heads_reads_nothing(store: Store) -> None:
    assert await store.db.read(lambda c: read_histories(c, [], rounds=3)) == []


async def test_a_claim_of_several_conversations_carries_each_ones_history(store: Store) -> None:
    await _chat(store, "p", 1)
    await _chat(store, "q", 2)
    await store.put(make_turn("p next", chat="p"))
    await store.put(make_turn("q next", chat="q"))
    claims = await InboxQueue(store, "w", history_rounds=1).claim(10)
    by_chat = {c.turn.key.chat_id: [h.text for h in c.history or ()] for c in claims}
    assert by_chat == {"p": ["p q0", "p a0"], "q": ["q q1", "q a1"]}
