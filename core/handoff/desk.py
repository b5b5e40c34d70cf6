"""The staff desk contract and what is handed to it.

A desk is where people pick up handed-off conversations: a Slack staff channel
(``adapters/slack/desk.py``) or a webhook helpdesk (``adapters/webhook/helpdesk.py``).
The handoff service decides *when* (opening, relaying, reminding); a desk decides *how*,
and names itself (``target``) and the staff side it opened (``staff_ref``): the core
knows no platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from core.handoff.summary import HandoffSummary
from core.model.handoff import HandoffRecord, TranscriptEntry
from core.model.turn import ConversationKey, ImagePart, Sender


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
    """Where staff work on handoffs.

    Lifecycle: ``start`` with the staff refs of handoffs still active (so the desk
    recognises replies in them after a restart), ``stop`` to release its connections.
    """

    @property
    def target(self) -> str:
        """The desk's name, stored with each handoff it holds (``handoff.target``)."""
        ...

    async def start(self, active_refs: Sequence[str]) -> None: ...

    async def stop(self) -> None: ...

    def staff_ref_of(self, key: ConversationKey) -> str | None:
        """The staff ref of the handoff a staff member writes in, or None when ``key`` is
        not one of this desk's staff sides (then the staff member talks to the assistant)."""
        ...

    async def open(self, brief: HandoffBrief, progress: Progress) -> str:
        """Create the staff side (the thread's first message); returns its ``staff_ref``.

        The service stores the ref before calling :meth:`details`, so a crash in between
        never creates a second staff side.
        """
        ...

    async def details(self, brief: HandoffBrief, staff_ref: str, progress: Progress) -> None:
        """Add the transcript, photos and draft to an opened staff side."""
        ...

    async def relay(
        self, record: HandoffRecord, message: RelayedMessage, progress: Progress
    ) -> None:
        """Put a customer message in front of staff."""
        ...

    async def remind(self, record: HandoffRecord, text: str, progress: Progress) -> None:
        """Ping staff again about a handoff nobody took."""
        ...
