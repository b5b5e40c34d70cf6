"""The contracts between the core and the platform adapters.

Adapters depend on these small protocols and dataclasses, never on the store or the
worker themselves, so an adapter can be tested against an in-memory inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.model.turn import ConversationKey, Reply, Turn


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the inbox says about a turn it was given.

    Attributes:
        turn_id: Durable id of the turn (the original one for a duplicate).
        duplicate: True if (platform, message_id) was already in the inbox.
    """

    turn_id: int
    duplicate: bool


class InboxPort(Protocol):
    """Where adapters put turns. ``put`` returns only once the turn is durable."""

    async def put(self, turn: Turn) -> IngestResult: ...


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
    """

    outbox_id: int
    reply: Reply
    turn_id: int | None = None
    seq: int = 1
    final: bool = True
    stream_ref: str | None = None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """Platform ids of the messages that carried a reply (several when it was split)."""

    platform_message_ids: tuple[str, ...] = ()


class ReplyStream(Protocol):
    """A live, throttled preview of an answer while the model writes it.

    The adapter paces platform calls itself; the worker may call ``update`` per token.
    """

    @property
    def ref(self) -> str | None:
        """Platform id of the draft message, once one exists."""
        ...

    async def update(self, text_so_far: str) -> None: ...

    async def close(self) -> None:
        """Stop updating (the final text is delivered through the outbox)."""


class StreamOpener(Protocol):
    async def open_stream(
        self, key: ConversationKey, reply_to: str | None
    ) -> ReplyStream | None: ...
