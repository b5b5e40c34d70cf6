"""The staff desk contract and what is handed to it.

A desk is where people pick up handed-off conversations: a Slack staff channel
(:mod:`core.handoff.slack_desk`) or a webhook helpdesk (:mod:`core.handoff.helpdesk`).
The handoff service decides *when* (opening, relaying, reminding); a desk decides *how*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import PermanentDeliveryError
from core.handoff.records import HandoffRecord, TranscriptEntry
from core.handoff.summary import HandoffSummary
from core.model.turn import ImagePart, Sender


@dataclass(frozen=True, slots=True)
class HandoffBrief:
    """Everything staff get when a handoff opens.

    Attributes:
        record: The handoff row.
        summary: Deterministic summary (customer, reason, topics, latest messages).
        transcript: The last turns up to the one that caused the handoff.
        draft: The bot's withheld answer (low-confidence handoffs), else empty.
    """

    record: HandoffRecord
    summary: HandoffSummary
    transcript: tuple[TranscriptEntry, ...]
    draft: str = ""


@dataclass(slots=True)
class Progress:
    """What one delivery already did, so a retry (after a 429, say) does not repeat it.

    Attributes:
        delivery_id: Stable id of the delivery (the outbox id, or ``-handoff id`` for an
            open started by the service loop); helpdesks use it as the idempotency key.
        steps_done: Steps of the delivery already completed.
        platform_ids: Ids of what was posted.
    """

    delivery_id: int
    steps_done: int = 0
    platform_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RelayedMessage:
    """A customer message for the staff side."""

    customer: Sender
    text: str
    images: tuple[ImagePart, ...] = ()


class StaffDesk(Protocol):
    """Where staff work on handoffs."""

    target: str

    async def start(self, brief: HandoffBrief, progress: Progress) -> str:
        """Create the staff side (the Slack thread's first message); returns its ``staff_ref``.

        The service stores the ref before calling :meth:`details`, so a crash in between
        never creates a second thread.
        """
        ...

    async def details(self, brief: HandoffBrief, staff_ref: str, progress: Progress) -> None:
        """Add the transcript, photos and draft to a started staff side."""
        ...

    async def relay(
        self, record: HandoffRecord, message: RelayedMessage, progress: Progress
    ) -> None:
        """Put a customer message in front of staff."""
        ...

    async def remind(self, record: HandoffRecord, text: str, progress: Progress) -> None:
        """Ping staff again about a handoff nobody took."""
        ...


DeskFactory = Callable[[Mapping[str, Any], "str | None"], StaffDesk]
"""Builds a desk from the runtime's adapters and the staff channel (set by main.py)."""


def split_ref(staff_ref: str) -> tuple[str, str]:
    """``"C123|1700000000.000100"`` → ``("C123", "1700000000.000100")``.

    Raises:
        PermanentDeliveryError: the ref is not a Slack thread reference.
    """
    channel, sep, thread_ts = staff_ref.partition("|")
    if not sep or not channel or not thread_ts:
        raise PermanentDeliveryError(f"not a Slack staff thread: {staff_ref!r}")
    return channel, thread_ts
