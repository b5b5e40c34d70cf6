"""The delivery half of the contract between the core and the platform adapters.

The outbox dispatcher hands a deliverer one :class:`OutboundMessage` at a time; the
deliverer sends it, records each part as soon as it is sent through
:class:`DeliveryProgress` (so an attempt after a crash resumes after them) and answers
with a :class:`DeliveryReceipt`. :mod:`core.ports` names these too, so that adapters
import the whole contract from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.model.turn import Reply


class DeliveryProgress(Protocol):
    """Where an adapter records, durably, the parts of a reply already sent (a reply split
    into several messages), so that an attempt after a crash resumes after them."""

    async def ensure_held(self) -> None:
        """Check, right before a platform send, that this attempt still holds its row for
        a while longer (one cheap read). A platform without an idempotency key must not
        send without it: a holder whose lease lapsed may have been replaced by another
        process that sends the same part.

        Raises:
            LeaseLostError: the row was taken over, or its lease is about to run out; the
                attempt must stop without sending.
            StoreError: the check failed (the attempt fails; nothing was sent).
        """
        ...

    async def parts_sent(self, platform_message_ids: tuple[str, ...]) -> None:
        """Record the platform ids of every part sent so far (committed when this returns).

        Raises:
            LeaseLostError: the row was taken over meanwhile; nothing was recorded.
            StoreError: the record failed (the attempt fails; the parts are kept in memory).
        """
        ...


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One outbox row handed to an adapter for delivery.

    Attributes:
        outbox_id: Durable id; the dispatcher marks it delivered after ``deliver`` returns.
        reply: What to send.
        turn_id: Inbox turn this answers (None for unsolicited messages such as relays).
        seq: 1-based sequence of this reply among the replies to ``turn_id``.
        final: True on the last reply to ``turn_id``.
        stream_ref: Platform id of a draft message already streamed for this reply;
            the adapter should edit it into the final text instead of sending anew.
        attempt: 1 on the first delivery attempt.
        sent: Platform ids of the parts an earlier attempt (maybe in a process that was
            killed since) recorded as sent: those parts must not be sent again.
        progress: Where to record each part as soon as it is sent (None: nowhere).
    """

    outbox_id: int
    reply: Reply
    turn_id: int | None = None
    seq: int = 1
    final: bool = True
    stream_ref: str | None = None
    attempt: int = 1
    sent: tuple[str, ...] = ()
    progress: DeliveryProgress | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """Platform ids of the messages that carried a reply (several when it was split)."""

    platform_message_ids: tuple[str, ...] = ()


class Deliverer(Protocol):
    """What the outbox dispatcher needs from whoever delivers a platform's rows.

    ``retry_schedule`` is None to use the dispatcher's own schedule, or the delays between
    durable attempts a platform's spec prescribes (each attempt is then made once). A
    deliverer with a true ``coalesce_relays`` attribute (the staff desk) is given relays
    queued behind each other as one merged message.
    """

    @property
    def retry_schedule(self) -> tuple[float, ...] | None: ...

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        """Send one outbox message.

        Raises:
            core.errors.RateLimitedError: the platform said 429; the dispatcher waits it out.
            core.errors.PermanentDeliveryError: never retry (chat gone, endpoint 410).
            core.errors.PlatformError: any other failure; retried on the schedule.
        """
        ...
