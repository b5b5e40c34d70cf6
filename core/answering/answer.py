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

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from core.answering.bot import Assessment, BotBrain, HandoffDecision, HistoryItem, Prepared
from core.answering.confidence import score_logprobs
from core.engines.base import Engine, GenerationRequest, TokenLogprob
from core.errors import EngineError
from core.handoff.records import HandoffRecords
from core.handoff.relay import HandoffRelay, draft_reason
from core.model.turn import Button, Confidence, Reply, ReplyKind, Role, Sender, TextPart, Turn
from core.ports import ReplyStream, StreamOpener
from core.store.queue import Completion, Decision
from core.store.store import Conversation, Store
from core.texts import Language, detect_language, text

log = logging.getLogger(__name__)

BOT_SENDER = Sender("kefu", "kefu", Role.BOT)


@dataclass(frozen=True, slots=True)
class AnswerSettings:
    history_rounds: int = 5
    max_new_tokens: int = 256
    temperature: float = 0.0
    handoff_wait_minutes: int = 10


def _components(confidence: Confidence) -> tuple[dict[str, object], ...]:
    return tuple(
        {"name": c.name, "value": c.value, "weight": c.weight, "detail": c.detail}
        for c in confidence.components
    )


def _plain_command(turn: Turn) -> Turn:
    """Button presses arrive as ``action:<id>:<value>`` on some platforms; use the value."""
    if turn.command and turn.command.startswith("action:"):
        value = turn.command.split(":", 2)[-1]
        if value in ("human", "reset", "help", "start") or value.startswith("handoff:"):
            return replace(turn, command=value)
    return turn


class Answerer:
    """Turns a stored turn into replies.

    Args:
        store: For history and memory resets.
        engine: The (batched) engine; text-only engines are wrapped for OCR by the caller.
        brains: Brain per sender role (customer → shop bot, staff → staff assistant).
        streams: Looks up the adapter that can stream a live preview for a platform.
        settings: History length, token budget, handoff wait.
    """

    def __init__(
        self,
        store: Store,
        engine: Engine,
        brains: Mapping[Role, BotBrain],
        streams: Callable[[str], StreamOpener | None] = lambda _platform: None,
        settings: AnswerSettings | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.brains = brains
        self.streams = streams
        self.settings = settings or AnswerSettings()
        # The handoff service switches desk relays on when it is registered (bind()).
        self.relay = HandoffRelay(HandoffRecords(store), desk_enabled=False)

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
        turn = _plain_command(turn)
        staff = await self.relay.staff_turn(turn)
        if staff is not None:
            return staff  # staff in a handoff thread: relayed or a button, never a bot answer
        if turn.command in ("reset",):
            await self.store.reset_memory(conversation.id)
            return self._notice(turn, text("reset_done", language), "reset")
        if conversation.state == "handoff" and turn.sender.role is Role.CUSTOMER:
            # The bot stays quiet while staff own the conversation; the message goes to them.
            relayed = await self.relay.customer_turn(turn, conversation, language)
            if relayed is not None:
                return relayed
            # No active handoff behind the state (closed elsewhere): the bot is back.
            completion = await self._answer_as_bot(turn, turn_id, conversation, language, history)
            return replace(completion, new_state=completion.new_state or "bot")
        return await self._answer_as_bot(turn, turn_id, conversation, language, history)

    async def _answer_as_bot(
        self,
        turn: Turn,
        turn_id: int,
        conversation: Conversation,
        language: Language,
        history: Sequence[HistoryItem] | None,
    ) -> Completion:
        if turn.command == "image_error":
            # The adapter already told the customer why the photo could not be read.
            return Completion(
                replies=(), decision=Decision("notice", reasons=("unreadable photo",))
            )
        if turn.command == "unsupported":
            return self._notice(turn, text("unsupported_content", language), "unsupported")
        if turn.command == "human":
            decision = HandoffDecision(("explicit request",), "explicit")
            return self._handoff(turn, conversation, decision, language)
        brain = self.brains[turn.sender.role if turn.sender.role in self.brains else Role.CUSTOMER]
        if history is None:
            rounds = self.settings.history_rounds
            history = await self.store.history(conversation.id, rounds, turn_id)
        prepared = await brain.prepare(turn, history)
        if prepared.handoff is not None:
            return self._handoff(turn, conversation, prepared.handoff, language)
        if prepared.direct_reply is not None:
            return self._direct(turn, prepared)
        return await self._generate(turn, conversation, brain, prepared, language)

    def _notice(self, turn: Turn, body: str, reason: str) -> Completion:
        reply = Reply(turn.key, body, ReplyKind.NOTICE, reply_to=turn.message_id)
        return Completion(replies=(reply,), decision=Decision("notice", reasons=(reason,)))

    def _direct(self, turn: Turn, prepared: Prepared) -> Completion:
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
            decision=Decision("direct", 1.0, reasons=("answered by tools",)),
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
        as the draft staff see as a suggestion.
        """
        body = text("handoff_notice", language).format(wait=self.settings.handoff_wait_minutes)
        reply = Reply(
            turn.key, body, ReplyKind.HANDOFF, reply_to=turn.message_id, confidence=confidence
        )
        withheld = (draft_reason(draft),) if draft.strip() else ()
        return Completion(
            replies=(reply,),
            decision=Decision(
                "handoff",
                confidence.score if confidence else None,
                _components(confidence) if confidence else (),
                (f"handoff:{decision.kind}", *decision.reasons, *withheld),
                self.engine.model_id,
            ),
            stream_refs={0: stream_ref} if stream_ref else {},
            new_state="handoff",
            handoff_reason="; ".join(decision.reasons) or decision.kind,
        )

    def _buttons(self, turn: Turn) -> tuple[Button, ...]:
        if turn.sender.role is not Role.CUSTOMER:
            return ()
        return (Button(text("talk_to_person", detect_language(turn.text)), "human"),)

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
        opener = self.streams(turn.key.platform)
        # The stream is opened either way (platforms show "typing" while it is open); its
        # text is only updated when the brain allows a live preview.
        stream = await opener.open_stream(turn.key, turn.message_id) if opener else None
        try:
            body, logprobs = await self._run(request, stream if prepared.stream_preview else None)
        except EngineError as exc:
            log.warning("engine failed for %s: %s", turn.key.as_str(), exc)
            return self._engine_failed(turn, exc, language, stream.ref if stream else None)
        finally:
            if stream is not None:
                await stream.close()
        assessment: Assessment = brain.assess(turn, prepared, body, score_logprobs(logprobs))
        ref = stream.ref if stream else None
        if assessment.handoff is not None:
            return self._handoff(
                turn, conversation, assessment.handoff, language, assessment.confidence, ref,
                draft=body,
            )  # fmt: skip
        return self._answered(turn, body, assessment.confidence, ref)

    def _engine_failed(
        self, turn: Turn, exc: EngineError, language: Language, ref: str | None
    ) -> Completion:
        reply = Reply(
            turn.key,
            text(exc.user_message_key, language),
            ReplyKind.ERROR,
            reply_to=turn.message_id,
        )
        return Completion(
            replies=(reply,),
            decision=Decision("error", reasons=(f"{exc.code}: {exc}",), model=self.engine.model_id),
            stream_refs={0: ref} if ref else {},
            failure_delta=1,
        )

    def _answered(
        self, turn: Turn, body: str, confidence: Confidence, ref: str | None
    ) -> Completion:
        reply = Reply(
            turn.key,
            body,
            ReplyKind.ANSWER,
            reply_to=turn.message_id,
            confidence=confidence,
            buttons=self._buttons(turn),
        )
        decision = Decision(
            "answer", confidence.score, _components(confidence), confidence.reasons,
            self.engine.model_id,
        )  # fmt: skip
        return Completion(
            replies=(reply,),
            decision=decision,
            stream_refs={0: ref} if ref else {},
            bot_turns=(self._bot_turn(turn, body),),
            failure_delta=-1,
        )

    async def _run(
        self, request: GenerationRequest, stream: ReplyStream | None
    ) -> tuple[str, list[TokenLogprob]]:
        pieces: list[str] = []
        logprobs: list[TokenLogprob] = []
        async for chunk in self.engine.generate(request):
            pieces.append(chunk.text)
            logprobs.extend(chunk.logprobs)
            if stream is not None and chunk.text:
                await stream.update("".join(pieces))
        return "".join(pieces).strip(), logprobs
