"""How a delivery lane finds out that it no longer holds its outbox row.

A lane holds its row under a lease and a fencing token (:mod:`core.store.outbox`). The
message it hands the adapter carries a :class:`RowProgress`: the adapter asks it right
before each platform send whether the row is still held, and records each part sent
through it. A lapsed or taken-over lease stops the attempt with
:class:`~core.errors.LeaseLostError`, and :class:`FenceStage` says where, for the
dispatcher's count of fenced deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import LeaseLostError
from core.store.outbox import OutboxQueue, OutboxRow


class FenceStage(StrEnum):
    """Where a lapsed holder was stopped."""

    SEND = "send"  # before a platform call: nothing was sent by this attempt
    RECORD = "record"  # its record (parts, delivered, retry) was refused: taken over


@dataclass(slots=True)
class RowProgress:
    """Records a row's sent parts in the outbox and fences its sends (see
    :class:`core.ports_delivery.DeliveryProgress`); ``fenced_at`` says where a lapse was
    found."""

    queue: OutboxQueue
    row: OutboxRow
    fenced_at: FenceStage | None = None

    async def ensure_held(self) -> None:
        if not await self.queue.holds(self.row):
            self.fenced_at = FenceStage.SEND
            raise LeaseLostError(f"outbox {self.row.id}: lease lapsed or taken over; not sent")

    async def parts_sent(self, platform_message_ids: tuple[str, ...]) -> None:
        if not await self.queue.parts_sent(self.row, platform_message_ids):
            self.fenced_at = FenceStage.RECORD
            raise LeaseLostError(f"outbox {self.row.id}: taken over; its record was refused")
