"""What answering a turn decided, and the conversation state it leaves behind.

:class:`Completion` is everything one answered turn writes, in one transaction (replies,
the decision-log entry, the new state, a new handoff); :class:`Decision` is its entry in
the decision log. The kinds and states are enums: nothing compares free-form strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.model.turn import ConfidenceComponent, ConversationKey, Reply, Turn


class DecisionKind(StrEnum):
    """What kefu did with a turn (the decision log's ``kind``)."""

    ANSWER = "answer"  # the model's answer, sent
    DIRECT = "direct"  # answered by tools or quoted knowledge, without the model
    HANDOFF = "handoff"  # handed to staff
    HANDOFF_TIMEOUT = "handoff_timeout"  # nobody took a handoff in time: staff pinged
    NOTICE = "notice"  # a fixed text (reset, help, unsupported content, already with staff)
    ERROR = "error"  # a fallback after an error
    RELAY = "relay"  # relayed between customer and staff
    NOTE = "note"  # an internal staff note in a handoff thread
    IGNORED = "ignored"  # a command that does not apply here
    TAKE = "take"  # staff took a handoff
    RESOLVE = "resolve"  # staff resolved a handoff
    RETURN = "return"  # staff returned the conversation to the bot
    RATE_LIMITED = "rate_limited"  # over the customer's limit: answered with a later message
    HELD = "held"  # not answered yet (the engine is down): answered when it is back
    DEAD_LETTER = "dead_letter"  # failed every attempt: kept for `main.py deadletters`


class ConversationState(StrEnum):
    """Who answers a conversation."""

    BOT = "bot"
    HANDOFF = "handoff"  # staff own it; the bot stays quiet


class HandoffStatus(StrEnum):
    """Where a handoff stands."""

    OPEN = "open"  # waiting for staff
    TAKEN = "taken"  # a person is on it
    RESOLVED = "resolved"
    RETURNED = "returned"  # given back to the bot

    @property
    def active(self) -> bool:
        return self in (HandoffStatus.OPEN, HandoffStatus.TAKEN)


class HandoffKind(StrEnum):
    """Why a conversation goes to a person."""

    EXPLICIT = "explicit"  # the customer asked for a person
    COMPLAINT = "complaint"  # complaint, escalation or a damaged item
    LOW_CONFIDENCE = "low_confidence"  # the answer could not be trusted
    NO_KNOWLEDGE = "no_knowledge"  # nothing in the shop's knowledge
    REPEATED_FAILURE = "repeated_failure"  # weak answers in a row, or a frustrated customer
    ORDER_NOT_FOUND = "order_not_found"  # an order the customer named could not be found
    POLICY = "policy"  # any other rule of the bot


@dataclass(frozen=True, slots=True)
class Decision:
    """One entry of the decision log.

    Attributes:
        kind: What was done.
        confidence: The answer's confidence score, when one was computed.
        components: What the confidence was computed from.
        reasons: Why, in words, for staff and for the export.
        model: The model that wrote the answer, if one did.
    """

    kind: DecisionKind
    confidence: float | None = None
    components: tuple[ConfidenceComponent, ...] = ()
    reasons: tuple[str, ...] = ()
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """Everything an answered turn writes, in one transaction.

    Attributes:
        replies: Outbound replies, in order; the last is marked final.
        decision: The decision-log entry.
        stream_refs: Draft message id for a reply index that was streamed.
        bot_turns: Turns to remember in history (the bot's answers).
        new_state: Conversation state after this turn, if it changes.
        failure_delta: +1 after a failed or weak answer, 0 keeps, -1 resets the durable
            counter of failures in a row (``conversations.failures``).
        handoff_reason: Opens a handoff row when set.
    """

    replies: tuple[Reply, ...]
    decision: Decision
    stream_refs: dict[int, str] = field(default_factory=dict)
    bot_turns: tuple[Turn, ...] = ()
    new_state: ConversationState | None = None
    failure_delta: int = 0
    handoff_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation's stored state.

    Attributes:
        id: Store id.
        key: Where it happens.
        state: Who answers it.
        failures: Failed or weak answers in a row (durable; reset by a good answer).
        memory_reset_at: When the customer last cleared the bot's memory.
    """

    id: int
    key: ConversationKey
    state: ConversationState
    failures: int
    memory_reset_at: datetime | None
