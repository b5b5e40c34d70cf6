"""Shared helpers for the handoff tests: drive turns through the real inbox queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from core.answering.answer import Answerer
from core.answering.bot import Assessment, Prepared, TurnContext
from core.answering.prompt_brain import PromptBrain
from core.handoff.desk import HandoffBrief, Progress, RelayedMessage
from core.knowledge.policy import HandoffPolicy
from core.model.decision import Completion, ConversationState, Decision, DecisionKind
from core.model.handoff import HandoffRecord
from core.model.turn import Confidence, ConversationKey, Reply, ReplyKind, Turn
from core.store.handoffs import HandoffRecords
from core.store.queue import InboxQueue
from core.store.store import Store
from tests.conftest import make_turn


class PolicyBrain:
    """The generic prompt brain plus the real handoff policy of core.knowledge (complaints,
    damage reports, explicit requests before answering; low confidence after)."""

    name = "policy-test"

    def __init__(self) -> None:
        self.inner = PromptBrain()
        self.policy = HandoffPolicy()

    async def prepare(self, turn: Turn, context: TurnContext) -> Prepared:
        decision = self.policy.before_answer(
            turn.text, turn.command, context.history, context.failures
        )
        if decision is not None:
            return Prepared((), handoff=decision)
        prepared = await self.inner.prepare(turn, context)
        return replace(prepared, failures=context.failures)

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, confidence: Confidence
    ) -> Assessment:
        decision = self.policy.after_answer(confidence, prepared.failures)
        return Assessment(confidence, decision, weak=self.policy.is_weak(confidence))


@dataclass
class ThreadDesk:
    """A staff desk in memory whose staff sides are threads of the ``slack`` platform
    (``"<chat>|<thread>"``), recording what it is asked to do."""

    target: str = "slack"
    opened: list[HandoffBrief] = field(default_factory=list)
    relayed: list[RelayedMessage] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)

    async def start(self, active_refs: Sequence[str]) -> None:
        self.resumed.extend(active_refs)

    async def stop(self) -> None:
        return None

    def staff_ref_of(self, key: ConversationKey) -> str | None:
        if key.platform != "slack" or not key.thread_id:
            return None
        return f"{key.chat_id}|{key.thread_id}"

    async def open(self, brief: HandoffBrief, progress: Progress) -> str:
        self.opened.append(brief)
        return f"CSTAFF|{brief.record.id}.000"

    async def details(self, brief: HandoffBrief, staff_ref: str, progress: Progress) -> None:
        return None

    async def relay(
        self, record: HandoffRecord, message: RelayedMessage, progress: Progress
    ) -> None:
        self.relayed.append(message)

    async def remind(self, record: HandoffRecord, text: str, progress: Progress) -> None:
        self.reminders.append(text)


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
        Decision(DecisionKind.HANDOFF, reasons=("handoff:complaint", *reasons)),
        new_state=ConversationState.HANDOFF,
        handoff_reason="complaint wording",
    )
    await commit(store, turn, completion)
    record = await HandoffRecords(store).latest((await store.conversation(turn.key)).id)
    assert record is not None
    return record


def thread_key(channel: str = "CSTAFF", ts: str = "1700000001.000100") -> ConversationKey:
    return ConversationKey("slack", channel, ts)
