"""The contract between the core and the platform adapters.

An adapter translates; it does not decide. It owns its platform's payloads, limits,
signatures and pacing, and hands the core typed :class:`~core.model.turn.Turn` objects
through an :class:`InboxPort`; the outbox dispatcher gives it :class:`OutboundMessage`
rows to deliver. Adding a platform is one folder under ``adapters/`` and one line in
``adapters/registry.py``; the core never imports an adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from aiohttp import web

from core.media.images import ImageDecoder, ImageLimits
from core.model.decision import Conversation
from core.model.turn import ConversationKey, Part, Reply, Sender, Turn

# The delivery half of the contract lives in core.ports_delivery; it is named here as well,
# so that an adapter imports the whole contract from core.ports.
from core.ports_delivery import Deliverer as Deliverer
from core.ports_delivery import DeliveryProgress as DeliveryProgress
from core.ports_delivery import DeliveryReceipt, OutboundMessage

RawT = TypeVar("RawT")
PlatformT = TypeVar("PlatformT")


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the inbox says about a turn it was given.

    Attributes:
        turn_id: Durable id of the turn (the original one for a duplicate).
        duplicate: True if (platform, message_id) was already in the inbox.
    """

    turn_id: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class GroupItems:
    """The items of one group gathered by every process of a deployment.

    Attributes:
        payloads: The items' payloads, in item order.
        quiet_s: Seconds since the newest item was added (by any process).
        orders: Each payload's item order (its key within the group), aligned with
            ``payloads``: what :meth:`SharedStatePort.drop_items` takes.
    """

    payloads: tuple[str, ...] = ()
    quiet_s: float = 0.0
    orders: tuple[int, ...] = ()


class SharedStatePort(Protocol):
    """State that every process of one deployment sees and that survives a kill (the
    store). Adapters keep in it what another replica, or the next start, must know: the
    threads the bot is in, the parts of an album spread over several requests."""

    async def remember(self, namespace: str, key: str) -> None:
        """Keep ``key`` (idempotent)."""
        ...

    async def known(self, namespace: str, key: str) -> bool:
        """Whether any process kept ``key``."""
        ...

    async def add_item(self, namespace: str, group: str, order: int, payload: str) -> None:
        """Keep one item of ``group``; an item repeated with the same ``order`` is kept once."""
        ...

    async def group_items(self, namespace: str, group: str) -> GroupItems:
        """Every item of ``group`` so far (empty when it was dropped or never added)."""
        ...

    async def open_groups(self, namespace: str) -> list[str]:
        """Groups with items still kept."""
        ...

    async def drop_group(self, namespace: str, group: str) -> None:
        """Forget a group's items (it was stored)."""
        ...

    async def drop_items(self, namespace: str, group: str, orders: tuple[int, ...]) -> None:
        """Forget only these items of a group: items added meanwhile (by another process,
        after this one read the group) are kept."""
        ...

    async def replace_items(
        self, namespace: str, group: str, orders: tuple[int, ...], old: str, new: str
    ) -> tuple[int, ...]:
        """Set the payload of those items ``orders`` whose payload is still ``old`` to
        ``new`` (compare and set); the orders replaced."""
        ...

    async def drop_older(self, namespace: str, age_s: float) -> int:
        """Forget every item of ``namespace`` added more than ``age_s`` ago; how many."""
        ...


class InboxPort(Protocol):
    """Where adapters put turns. ``put`` returns only once the turn is durable."""

    async def put(self, turn: Turn) -> IngestResult: ...


@dataclass(frozen=True, slots=True)
class HeldTurn:
    """A stored turn the workers may not claim yet: its adapter still fetches some parts.

    Attributes:
        turn_id: Durable id of the turn.
        turn: The turn as stored (placeholder notes where parts are pending).
        pending: The adapter's own references to what it still fetches (JSON objects).
        stored_at: When the turn was stored (the adapter's deadlines count from here).
    """

    turn_id: int
    turn: Turn
    pending: tuple[dict[str, Any], ...]
    stored_at: datetime


class HeldTurnsPort(Protocol):
    """Turns stored at once but held until their adapter has fetched the rest (see
    :mod:`core.store.held`). The held row heads its conversation, so later turns wait too.
    Whoever fetches holds a lease (``owner``, renewed); an expired lease is taken over."""

    async def put_held(
        self, turn: Turn, pending: Sequence[dict[str, Any]], owner: str, lease_s: float,
        hold_s: float,
    ) -> IngestResult: ...  # fmt: skip

    async def take_held(
        self, platform: str, owner: str, lease_s: float, limit: int
    ) -> list[HeldTurn]: ...

    async def renew_held(self, turn_ids: Sequence[int], owner: str, lease_s: float) -> set[int]: ...

    async def resolve_held(self, turn_id: int, owner: str, parts: tuple[Part, ...]) -> bool: ...


class Service(Protocol):
    """A long-lived part with one lifecycle: ``start`` once, ``stop`` once (idempotent)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


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


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """What the core asks of a live preview.

    Attributes:
        key: The conversation being answered.
        reply_to: Platform message id of the turn being answered.
        recipient: Who the answer is for (Slack's channel streams need the user).
        preview: The answer's text may be shown while it is written. When False the
            platform shows only a "thinking" indicator: the answer is assessed first and may
            be withheld, and a customer must never see a draft that is not sent.
        stoppable: The platform may offer a stop control; pressing it calls
            :meth:`StopPort.stop` for ``key``.
    """

    key: ConversationKey
    reply_to: str | None = None
    recipient: Sender | None = None
    preview: bool = True
    stoppable: bool = False


class StreamOpener(Protocol):
    async def open_reply_stream(self, request: StreamRequest) -> ReplyStream | None: ...


class StopPort(Protocol):
    """Where an adapter reports that a person asked to stop the answer being written."""

    async def stop(self, key: ConversationKey) -> bool:
        """Abort the answer being written in ``key``; True if one was running."""
        ...


class ConversationPort(Protocol):
    """Where an adapter reads a conversation's state (who answers it: the bot or staff)."""

    async def conversation(self, key: ConversationKey) -> Conversation: ...


class Bell:
    """Wakes one waiting loop when there is new work; any number of parts may ring it.

    A ring while nobody waits is kept, so work that arrives between two waits is not
    missed (the waiter clears the bell before it looks for work).
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    @property
    def rung(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout: float) -> None:
        """Return when rung, or after ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


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


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What the composition root gives each adapter.

    Attributes:
        inbox: Durable inbox; ``put`` returns only after the turn is stored.
        shared: State shared by every replica through the store (None: this process's
            memory only, e.g. in tests of a single adapter).
        web: Shared aiohttp application for inbound HTTP routes (webhooks), or None when no
            HTTP server runs.
        receive: Receive platform traffic (routes, polling, sockets). False in a process
            that only delivers (``serve --role worker``).
        image_limits: Limits for the photos customers send.
        stops: Where a pressed stop button goes (None: the platform offers none).
        conversations: Conversation states, for platforms that show them (the web chat's
            "with a person" banner); None where nothing reads them.
        images: The process's one image decoder (threads, a concurrency and memory limit).
        held: Where turns wait for parts fetched after the acknowledgement (None: nowhere;
            such parts become notes).
    """

    inbox: InboxPort
    shared: SharedStatePort | None = None
    web: web.Application | None = None
    receive: bool = True
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    stops: StopPort | None = None
    conversations: ConversationPort | None = None
    images: ImageDecoder = field(default_factory=ImageDecoder)
    held: HeldTurnsPort | None = None


class Adapter(ABC, Generic[RawT, PlatformT]):
    """Base class of every platform adapter.

    The constructor wires the adapter (its inbound routes go on ``context.web`` when it
    receives; handlers answer 503 until it is started). ``start`` connects and verifies
    credentials, then begins receiving (polling, a socket, registering the webhook);
    ``stop`` stops receiving and releases connections.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    retry_schedule: tuple[float, ...] | None = None

    def __init__(self, context: AdapterContext) -> None:
        self.context = context

    @abstractmethod
    async def start(self) -> None:
        """Connect, verify credentials and begin receiving when ``context.receive``.

        Raises:
            core.errors.ConfigError: settings the chosen mode needs are missing or wrong.
            core.errors.PlatformError: the platform could not be reached.
        """

    @abstractmethod
    async def stop(self) -> None:
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
        """Send one outbox message (see :meth:`Deliverer.deliver`)."""

    async def open_stream(self, key: ConversationKey, reply_to: str | None) -> ReplyStream | None:
        """Open a live preview of an answer, or None when the platform cannot stream."""
        return None

    async def open_reply_stream(self, request: StreamRequest) -> ReplyStream | None:
        """Open a live preview for ``request`` (what the core calls).

        The default is :meth:`open_stream`; platforms with native drafts, stop buttons or
        recipients override this one.
        """
        return await self.open_stream(request.key, request.reply_to)
