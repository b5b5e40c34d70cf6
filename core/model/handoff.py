"""Handoffs as data: a handoff row, what staff see of the conversation, status changes.

Every transition is applied by the store as one ``UPDATE … WHERE status IN (…)`` (see
:mod:`core.store.handoffs`): a double click or a retried event finds the row already moved
and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.model.decision import ConversationState, DecisionKind, HandoffStatus
from core.model.turn import Command, ConversationKey, ImagePart, Role, Sender

ACTIVE = (HandoffStatus.OPEN, HandoffStatus.TAKEN)


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    """One handoff and the customer conversation it belongs to.

    Attributes:
        target: The desk that holds the staff side (its ``target`` name); empty until opened.
        staff_ref: The desk's reference to the staff side (a Slack thread, a helpdesk
            ticket); None until the staff side is opened.
    """

    id: int
    conversation_id: int
    customer_key: ConversationKey
    status: HandoffStatus
    reason: str
    target: str
    staff_ref: str | None
    taken_by: str | None
    pinged_at: datetime | None
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.status.active


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One stored turn, as staff see it."""

    turn_id: int
    role: Role
    sender: Sender
    text: str
    images: tuple[ImagePart, ...]
    command: Command | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    """A requested status change of a handoff.

    Attributes:
        to_status: New status.
        from_statuses: Statuses it may move from; any other status leaves the row as is.
        actor: Who did it (staff display name), kept in ``taken_by`` for a take.
        conversation_state: New state of the customer conversation, if it changes.
        decision: Kind written to the decision log of the customer conversation.
        reasons: Reasons for the decision log.
    """

    to_status: HandoffStatus
    from_statuses: tuple[HandoffStatus, ...]
    actor: str
    conversation_state: ConversationState | None
    decision: DecisionKind
    reasons: tuple[str, ...] = ()


def take(actor: str, reasons: tuple[str, ...] = ()) -> Transition:
    return Transition(
        HandoffStatus.TAKEN, (HandoffStatus.OPEN,), actor, None, DecisionKind.TAKE,
        (f"taken by {actor}", *reasons),
    )  # fmt: skip


def resolve(actor: str, reasons: tuple[str, ...] = ()) -> Transition:
    return Transition(
        HandoffStatus.RESOLVED, ACTIVE, actor, ConversationState.BOT, DecisionKind.RESOLVE,
        (f"resolved by {actor}", *reasons),
    )  # fmt: skip


def return_to_bot(actor: str, reasons: tuple[str, ...] = ()) -> Transition:
    return Transition(
        HandoffStatus.RETURNED, ACTIVE, actor, ConversationState.BOT, DecisionKind.RETURN,
        (f"returned to the bot by {actor}", *reasons),
    )  # fmt: skip


def transition_for(command: Command, actor: str, reasons: tuple[str, ...] = ()) -> Transition:
    """The transition a desk action asks for.

    Raises:
        ValueError: ``command`` is not a desk action.
    """
    factories = {Command.TAKE: take, Command.RESOLVE: resolve, Command.RETURN: return_to_bot}
    if command not in factories:
        raise ValueError(f"{command} is not a handoff desk action")
    return factories[command](actor, reasons)
