"""Answer one turn: commands, handoff state, the brain's prompt, the engine, confidence.

:class:`Answerer` produces a :class:`~core.store.queue.Completion` that the worker commits
in one transaction (replies, decision, new state, a new handoff row). The only writes it
makes itself are idempotent: a memory reset, and handoff transitions (Take / Resolve /
Return, ``UPDATE … WHERE status``) with the staff words remembered in the customer's
history (see :mod:`core.handoff.relay`).

Handoff paths: a customer in a handed-over conversation is relayed to the staff desk and
never answered by the bot; staff writing in a handoff's Slack thread are relayed to the
customer (or press its buttons) and never answered by the bot either.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.answering.bot import (
    Assessment,
    BotBrain,
    HandoffDecision,
    Prepared,
    ShopContact,
    TurnContext,
)
from core.answering.confidence import score_logprobs
from core.answering.decisionlog import with_facts
from core.answering.draft import Draft, DraftBudget, write_draft
from core.answering.fallbacks import (
    engine_failed,
    handoff_decision,
    no_desk_handoff,
    stopped,
    unknown_command,
)
from core.answering.feedback import FeedbackRecorder
from core.answering.interrupts import Interrupts
from core.answering.meter import ThroughputMeter
from core.engines.base import Engine, GenerationChunk, GenerationRequest
from core.errors import EngineError
from core.handoff.desk import StaffDesk
from core.handoff.relay import HandoffRelay
from core.model.decision import (
    Completion,
    Conversation,
    ConversationState,
    Decision,
    DecisionKind,
    HandoffKind,
)
from core.model.turn import (
    FEEDBACK_COMMANDS,
    Button,
    Command,
    Confidence,
    ContentProblem,
    HistoryItem,
    Reply,
    ReplyKind,
    Role,
    Sender,
    TextPart,
    Turn,
)
from core.ports import ReplyStream, StreamOpener, StreamRequest
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from core.texts import Language, detect_language, text

log = logging.getLogger(__name__)

BOT_SENDER = Sender("kefu", "kefu", Role.BOT)


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    history_rounds: int = 5
    max_new_tokens: int = 256
    temperature: float = 0.0
    handoff_wait_minutes: int = 10
    owner_quiet_minutes: float = 720.0
    # Raise engine failures to the worker, which holds the turn and answers it when the
    # engine is back (or hands it to staff after a while); False answers with an apology.
    hold_on_engine_error: bool = False
    # The model path's deadline and early stop: the customer gets the answer or the handoff
    # notice in time, and a draft that cannot pass is not decoded to the end.
    draft_budget: DraftBudget = field(default_factory=DraftBudget)


class Answerer:
    """Turns a stored turn into replies.

    Args:
        store: For history and memory resets.
        engine: The (batched) engine; text-only engines are wrapped for OCR by the caller.
        brains: Brain per sender role (customer → shop bot, staff → staff assistant).
        streams: The adapters that can stream a live preview, by platform name.
        settings: History length, token budget, handoff wait.
        desks: The handoff service's staff desks (customers' messages in a handoff are
            relayed to them); none when no handoff service runs.
        interrupts: Answers being written, for the adapters' stop buttons (the same object
            is in their context); a private one when none is given.
        contact: How customers reach the shop's people (the customer brain's shop
            profile), told when a handoff finds no staff desk.
        meter: Where the answers' throughput is recorded (the operator desk reads it).
    """

    def __init__(
        self,
        store: Store,
        engine: Engine,
        brains: Mapping[Role, BotBrain],
        streams: Mapping[str, StreamOpener] | None = None,
        settings: AnswerSettings | None = None,
        desks: Sequence[StaffDesk] = (),
        interrupts: Interrupts | None = None,
        contact: ShopContact | None = None,
        meter: ThroughputMeter | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.brains = brains
        self.streams = dict(streams or {})
        self.settings = settings or AnswerSettings()
        self.relay = HandoffRelay(
            HandoffRecords(store), desks, owner_quiet_minutes=self.settings.owner_quiet_minutes
        )
        self.interrupts = interrupts or Interrupts()
        self.feedback = FeedbackRecorder(store)
        self.contact = contact
        self.meter = meter or ThroughputMeter()

    async def answer(
        self,
        turn: Turn,
        turn_id: int,
        conversation: Conversation,
        history: Sequence[HistoryItem] | None = None,
    ) -> Completion:
        """Decide and generate the replies for ``turn``.

        Args:
            turn: The customer's or staff member's turn.
            turn_id: Its stored id.
            conversation: Its conversation's state.
            history: The conversation's recent rounds, when the caller already read them.
        """
        language = detect_language(turn.text)
        if turn.command is Command.TAKEOVER:
            return await self.relay.takeover(turn, conversation)
        if turn.command in FEEDBACK_COMMANDS:
            return await self.feedback.record(turn, conversation)
        if turn.command is Command.STOP:
            # A stop that reached the inbox: the answer it meant was stopped by the worker's
            # watcher (another process received it) or had finished.
            reasons = ("stop: the answer it meant was stopped or had finished",)
            return Completion((), Decision(DecisionKind.IGNORED, reasons=reasons))
        staff = await self.relay.staff_turn(turn)
        if staff is not None:
            return staff  # staff in a handoff thread: relayed or a button, never a bot answer
        if turn.command is Command.RESET:
            return await self._reset(turn, conversation, language)
        if turn.command is Command.UNKNOWN and turn.sender.role is Role.CUSTOMER:
            return unknown_command(turn, language)  # a mistyped /word: help, not a handoff
        if conversation.state is ConversationState.HANDOFF and turn.sender.role is Role.CUSTOMER:
            # The bot stays quiet while staff own the conversation; the message goes to them.
            relayed = await self.relay.customer_turn(turn, conversation, language)
            if relayed is not None:
                return relayed
            # No active handoff behind the state (closed elsewhere): the bot is back.
            completion = await self._answer_as_bot(turn, turn_id, conversation, language, history)
            return replace(completion, new_state=completion.new_state or ConversationState.BOT)
        return await self._answer_as_bot(turn, turn_id, conversation, language, history)

    async def _answer_as_bot(
        self,
        turn: Turn,
        turn_id: int,
        conversation: Conversation,
        language: Language,
        history: Sequence[HistoryItem] | None,
    ) -> Completion:
        if turn.problem is ContentProblem.IMAGE_ERROR:
            # The adapter already told the customer why the photo could not be read.
            return Completion(
                replies=(), decision=Decision(DecisionKind.NOTICE, reasons=("unreadable photo",))
            )
        if turn.problem is ContentProblem.UNSUPPORTED:
            return self._notice(turn, text("unsupported_content", language), "unsupported")
        if turn.command is Command.HUMAN:
            decision = HandoffDecision(("explicit request",), HandoffKind.EXPLICIT)
            return self._handoff(turn, conversation, decision, language)
        brain = self.brains[turn.sender.role if turn.sender.role in self.brains else Role.CUSTOMER]
        if history is None:
            rounds = self.settings.history_rounds
            history = await self.store.history(conversation.id, rounds, turn_id)
        context = TurnContext(tuple(history), conversation.failures)
        prepared = await brain.prepare(turn, context)
        if prepared.handoff is not None:
            return self._handoff(turn, conversation, prepared.handoff, language)
        if prepared.direct_reply is not None:
            return self._direct(turn, prepared)
        return await self._generate(turn, conversation, brain, prepared, language)

    async def _reset(
        self, turn: Turn, conversation: Conversation, language: Language
    ) -> Completion:
        """Forget the conversation and give it back to the bot (a handoff is returned)."""
        await self.store.reset_memory(conversation.id)
        returned = await self.relay.customer_reset(turn, conversation)
        completion = self._notice(turn, text("reset_done", language), "reset")
        if not returned and conversation.state is not ConversationState.HANDOFF:
            return completion
        reasons = ("reset", "conversation returned to the bot", *returned)
        return replace(
            completion,
            decision=replace(completion.decision, reasons=reasons),
            new_state=ConversationState.BOT,
        )

    def engine_handoff(self, turn: Turn, conversation: Conversation, reason: str) -> Completion:
        """Hand the conversation to staff because the engine stayed down too long."""
        decision = HandoffDecision((reason,), HandoffKind.POLICY)
        return self._handoff(turn, conversation, decision, detect_language(turn.text))

    def _notice(self, turn: Turn, body: str, reason: str) -> Completion:
        reply = Reply(turn.key, body, ReplyKind.NOTICE, reply_to=turn.message_id)
        return Completion(
            replies=(reply,), decision=Decision(DecisionKind.NOTICE, reasons=(reason,))
        )

    def _direct(self, turn: Turn, prepared: Prepared) -> Completion:
        assert prepared.direct_reply is not None
        return with_facts(self._direct_reply(turn, prepared), prepared.facts)

    def _direct_reply(self, turn: Turn, prepared: Prepared) -> Completion:
        assert prepared.direct_reply is not None
        reply = Reply(
            turn.key,
            prepared.direct_reply,
            ReplyKind.ANSWER,
            reply_to=turn.message_id,
            confidence=Confidence(1.0, reasons=("answered by tools",)),
            buttons=self._buttons(turn),
        )
        return Completion(
            replies=(reply,),
            decision=Decision(DecisionKind.DIRECT, 1.0, reasons=("answered by tools",)),
            bot_turns=(self._bot_turn(turn, prepared.direct_reply),),
            failure_delta=-1,
        )

    def _handoff(
        self,
        turn: Turn,
        conversation: Conversation,
        decision: HandoffDecision,
        language: Language,
        confidence: Confidence | None = None,
        stream_ref: str | None = None,
        draft: str = "",
    ) -> Completion:
        """Tell the customer and open a handoff row; the handoff service opens the staff side.

        A generated answer that was not sent (low confidence) is kept in the decision log
        as the draft staff see as a suggestion. Without a staff desk the customer is told
        the shop's contact instead, and the bot keeps the conversation.
        """
        reason = "; ".join(decision.reasons) or decision.kind
        if not self.relay.desks:
            log.warning(
                "handoff of %s (%s: %s) reaches no staff desk; the customer gets the contact",
                turn.key.as_str(), decision.kind, reason,
            )  # fmt: skip
            return no_desk_handoff(
                turn, decision, language, self.contact,
                confidence=confidence, draft=draft, model=self.engine.model_id,
                stream_ref=stream_ref,
            )  # fmt: skip
        log.info("handoff of %s (%s): %s", turn.key.as_str(), decision.kind, reason)
        body = text("handoff_notice", language).format(wait=self.settings.handoff_wait_minutes)
        reply = Reply(
            turn.key, body, ReplyKind.HANDOFF, reply_to=turn.message_id, confidence=confidence
        )
        return Completion(
            replies=(reply,),
            decision=handoff_decision(decision, confidence, draft, self.engine.model_id),
            stream_refs={0: stream_ref} if stream_ref else {},
            new_state=ConversationState.HANDOFF,
            handoff_reason=reason,
        )

    def _buttons(self, turn: Turn) -> tuple[Button, ...]:
        if turn.sender.role is not Role.CUSTOMER:
            return ()
        return (Button(text("talk_to_person", detect_language(turn.text)), Command.HUMAN),)

    def _bot_turn(self, turn: Turn, body: str) -> Turn:
        return Turn(turn.key, BOT_SENDER, "", (TextPart(body),), reply_to=turn.message_id)

    async def _generate(
        self,
        turn: Turn,
        conversation: Conversation,
        brain: BotBrain,
        prepared: Prepared,
        language: Language,
    ) -> Completion:
        request = GenerationRequest(
            messages=prepared.messages,
            max_new_tokens=self.settings.max_new_tokens,
            temperature=self.settings.temperature,
        )
        stream = await self._open_stream(turn, prepared)
        abort = functools.partial(self.engine.abort, request.request_id)
        with self.interrupts.watch(turn.key, abort) as watch:
            try:
                draft = await self._run(
                    request, prepared, stream if prepared.stream_preview else None
                )
            except EngineError as exc:
                if watch.stopped:
                    draft = Draft("", (), None, 0.0)
                elif self.settings.hold_on_engine_error:
                    raise
                else:
                    log.warning("engine failed for %s: %s", turn.key.as_str(), exc)
                    ref = stream.ref if stream else None
                    return engine_failed(turn, exc, language, ref, self.engine.model_id)
            finally:
                if stream is not None:
                    await stream.close()
        body = draft.text
        if watch.stopped:
            return stopped(turn, body, self.engine.model_id)
        ref = stream.ref if stream else None
        if draft.stopped is not None:
            # Out of time, or the draft could no longer pass: the handoff notice now.
            decision = HandoffDecision((draft.stopped,), HandoffKind.LOW_CONFIDENCE)
            return self._handoff(turn, conversation, decision, language, None, ref, draft=body)
        assessment: Assessment = brain.assess(turn, prepared, body, score_logprobs(draft.logprobs))
        if assessment.handoff is not None:
            completion = self._handoff(
                turn, conversation, assessment.handoff, language, assessment.confidence, ref,
                draft=body,
            )  # fmt: skip
        else:
            completion = self._answered(turn, body, assessment, ref)
        return with_facts(completion, prepared.facts + draft.facts)

    async def _open_stream(self, turn: Turn, prepared: Prepared) -> ReplyStream | None:
        """The platform's live preview. Opened either way (it shows "typing" or "thinking");
        its text is only shown when the brain allows a preview of answers it may withhold."""
        opener = self.streams.get(turn.key.platform)
        if opener is None:
            return None
        request = StreamRequest(
            turn.key, turn.message_id, turn.sender, prepared.stream_preview, stoppable=True
        )
        return await opener.open_reply_stream(request)

    def _answered(
        self, turn: Turn, body: str, assessment: Assessment, ref: str | None
    ) -> Completion:
        confidence = assessment.confidence
        reply = Reply(
            turn.key,
            body,
            ReplyKind.ANSWER,
            reply_to=turn.message_id,
            confidence=confidence,
            buttons=self._buttons(turn),
        )
        decision = Decision(
            DecisionKind.ANSWER, confidence.score, confidence.components, confidence.reasons,
            self.engine.model_id,
        )  # fmt: skip
        return Completion(
            replies=(reply,),
            decision=decision,
            stream_refs={0: ref} if ref else {},
            bot_turns=(self._bot_turn(turn, body),),
            failure_delta=1 if assessment.weak else -1,
        )

    async def _run(
        self, request: GenerationRequest, prepared: Prepared, stream: ReplyStream | None
    ) -> Draft:
        async def preview(chunk: GenerationChunk, text_so_far: str) -> None:
            if stream is not None and chunk.text:
                await stream.update(text_so_far)

        started = time.monotonic()
        draft = await write_draft(
            self.engine,
            request,
            self.settings.draft_budget,
            prepared.guard,
            preview,
            prepared.functions,
        )
        self.meter.record(len(draft.logprobs), time.monotonic() - started)
        return draft
