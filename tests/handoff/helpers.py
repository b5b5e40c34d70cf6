"""Shared helpers for the handoff tests: drive turns through the real inbox queue."""

from __future__ import annotations

from collections.abc import Sequence

from core.answering.answer import Answerer
from core.answering.bot import Assessment, HistoryItem, Prepared
from core.answering.prompt_brain import PromptBrain
from core.handoff.records import HandoffRecord, HandoffRecords
from core.knowledge.policy import HandoffPolicy
from core.model.turn import Confidence, ConversationKey, Reply, ReplyKind, Turn
from core.store.queue import Completion, Decision, InboxQueue
from core.store.store import Store
from tests.conftest import make_turn


class PolicyBrain:
    """The generic prompt brain plus the real handoff policy of core.knowledge (complaints,
    damage reports, explicit requests before answering; low confidence after)."""

    name = "policy-test"

    def __init__(self) -> None:
        self.inner = PromptBrain()
        self.policy = HandoffPolicy()

    async def prepare(self, turn: Turn, history: Sequence[HistoryItem]) -> Prepared:
        decision = self.policy.before_answer(turn.text, turn.command, history, turn.key.as_str())
        if decision is not None:
            return Prepared((), handoff=decision)
        return await self.inner.prepare(turn, history)

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, confidence: Confidence
    ) -> Assessment:
        return Assessment(confidence, self.policy.after_answer(confidence, turn.key.as_str()))


async def answer_next(store: Store, answerer: Answerer, turn: Turn) -> Completion:
    """Put ``turn`` in the inbox, answer it with ``answerer`` and commit, like the worker."""
    await store.put(turn)
    queue = InboxQueue(store, "test-worker")
    [claim] = await queue.claim(1)
    stored = await store.load_turn(claim.turn_id)
    completion = await answerer.answer(stored, claim.turn_id, await store.conversation(stored.key))
    await queue.complete(claim, stored.key, completion)
    return completion


async def commit(store: Store, turn: Turn, completion: Completion) -> int:
    """Store ``turn`` and commit a hand-made ``completion`` for it; returns the turn id."""
    await store.put(turn)
    queue = InboxQueue(store, "test-worker")
    [claim] = await queue.claim(1)
    await queue.complete(claim, turn.key, completion)
    return claim.turn_id


async def open_handoff(
    store: Store,
    chat: str = "c1",
    text: str = "我要投诉，鞋子坏了",
    platform: str = "telegram",
    reasons: tuple[str, ...] = (),
) -> HandoffRecord:
    """A customer turn whose committed answer hands the conversation over."""
    turn = make_turn(text, chat=chat, platform=platform)
    notice = Reply(turn.key, "a person will reply", ReplyKind.HANDOFF)
    completion = Completion(
        (notice,),
        Decision("handoff", reasons=("handoff:complaint", *reasons)),
        new_state="handoff",
        handoff_reason="complaint wording",
    )
    await commit(store, turn, completion)
    record = await HandoffRecords(store).latest((await store.conversation(turn.key)).id)
    assert record is not None
    return record


def thread_key(channel: str = "CSTAFF", ts: str = "1700000001.000100") -> ConversationKey:
    return ConversationKey("slack", channel, ts)
