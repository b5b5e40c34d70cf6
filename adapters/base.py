"""The shape every platform adapter has.

An adapter translates; it does not decide. It owns its platform's payloads, limits,
signatures and pacing, and hands the core typed :class:`~core.model.turn.Turn` objects through
an :class:`~core.ports.InboxPort`. Adding a platform is one folder, one line in
:mod:`adapters.registry`, and a fake server under ``tests/fakes``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from aiohttp import web

from core.model.turn import ConversationKey, Reply, Turn
from core.ports import DeliveryReceipt, InboxPort, OutboundMessage, ReplyStream

RawT = TypeVar("RawT")
PlatformT = TypeVar("PlatformT")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the platform can do; the core falls back to plain text where it cannot.

    Attributes:
        streaming: Can show an answer while it is written (edits or drafts).
        editing: Can edit a sent message.
        images: Can receive and send images.
        buttons: Can show inline buttons (else a text hint is appended).
        max_message_chars: Longest single message; longer replies are split.
    """

    streaming: bool = False
    editing: bool = False
    images: bool = False
    buttons: bool = False
    max_message_chars: int = 4096


@dataclass(slots=True)
class AdapterContext:
    """What the composition root gives each adapter.

    Attributes:
        inbox: Durable inbox; ``put`` returns only after the turn is stored.
        web: Shared aiohttp application for inbound HTTP routes (webhooks), or None
            when no HTTP server runs (e.g. pure polling in tests).
        retry_schedule: Seconds between delivery attempts for the outbox dispatcher.
        extras: Named collaborators some adapters need (e.g. a handoff service).
    """

    inbox: InboxPort
    web: web.Application | None = None
    retry_schedule: tuple[float, ...] = (1.0, 5.0, 30.0)
    extras: dict[str, Any] = field(default_factory=dict)


class Adapter(ABC, Generic[RawT, PlatformT]):
    """Base class of every platform adapter.

    Lifecycle: ``initialize`` (connect, verify credentials, register routes),
    then ``start`` (begin receiving: polling loops, socket mode), then ``shutdown``.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # True when start() begins receiving platform traffic (ingest role); False for adapters
    # whose start() runs background delivery work (worker role), such as the handoff desk.
    receives: ClassVar[bool] = True

    def __init__(self, context: AdapterContext) -> None:
        self.context = context

    @abstractmethod
    async def initialize(self) -> None:
        """Connect and register inbound routes. Must not start receiving yet."""

    async def start(self) -> None:
        """Begin receiving (polling, socket mode). Webhook-only adapters need nothing."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Stop receiving and release connections. Idempotent."""

    @abstractmethod
    def to_turn(self, raw: RawT) -> Turn:
        """Translate a platform message into a turn. Pure: no I/O.

        Raises:
            core.errors.UnsupportedContentError: for content kefu does not handle.
        """

    @abstractmethod
    def to_platform(self, reply: Reply) -> list[PlatformT]:
        """Translate a reply into the platform's outgoing messages (split, escaped). Pure."""

    @abstractmethod
    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        """Send one outbox message.

        Raises:
            core.errors.RateLimitedError: the platform said 429; the dispatcher waits it out.
            core.errors.PermanentDeliveryError: never retry (chat gone, endpoint 410).
            core.errors.PlatformError: any other failure; retried on the schedule.
        """

    async def open_stream(self, key: ConversationKey, reply_to: str | None) -> ReplyStream | None:
        """Open a live preview of an answer, or None when the platform cannot stream."""
        return None
