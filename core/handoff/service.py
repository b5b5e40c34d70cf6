"""The handoff service: opens staff threads, delivers relays, pings when nobody takes over.

Durability comes from the store, not from this process:

- The answer that hands a conversation over commits its ``handoffs`` row (``staff_ref``
  NULL) together with the customer's notice. This service's loop (woken after every
  answer, and polling) opens the staff side of every active handoff without a
  ``staff_ref``: it posts the thread's first message, stores ``staff_ref`` at once (so a
  crash never opens a second thread), then adds the transcript, photos and draft.
- Customer messages during a handoff are outbox rows on the pseudo platform
  ``"handoff"``; :class:`HandoffAdapter` is their deliverer (the dispatcher retries it
  like any adapter) and opens the thread first if the loop has not yet.
- Reminders are claimed with ``UPDATE … WHERE pinged_at`` is due, and queued with the
  customer's ``handoff_timeout`` notice in the same transaction: one ping per period.

Wiring (``main.py``)::

    handoff = HandoffService(store, settings.handoff, slack_channel=..., desks=build_desks(...))
    runtime = Runtime(..., {**factories, "handoff": handoff.adapter_factory}, ...)
    handoff.bind(runtime)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from adapters.base import Adapter, AdapterContext, Capabilities
from config.handoff import HandoffSettings
from core.errors import (
    ConfigError,
    KefuError,
    PermanentDeliveryError,
    PlatformError,
    RateLimitedError,
    UnsupportedContentError,
)
from core.handoff import summary as texts
from core.handoff.desk import (
    DeskFactory,
    HandoffBrief,
    Progress,
    RelayedMessage,
    StaffDesk,
    split_ref,
)
from core.handoff.records import HandoffRecord, HandoffRecords
from core.handoff.relay import DRAFT_REASON, desk_key
from core.model.turn import Reply, ReplyKind, Role, Sender, Turn
from core.ports import DeliveryReceipt, OutboundMessage
from core.store.db import utcnow
from core.store.store import Store
from core.texts import detect_language, text

if TYPE_CHECKING:
    from core.runtime.runtime import Runtime

log = logging.getLogger(__name__)
MAX_OPEN_BACKOFF_S = 300.0


class HandoffService:
    """Runs the staff side of handoffs.

    Args:
        store: The durable store.
        settings: Handoff settings.
        slack_channel: Staff channel when ``settings.slack_channel`` is unset (``slack.staff_channel``).
    """

    def __init__(
        self,
        store: Store,
        settings: HandoffSettings,
        *,
        slack_channel: str | None = None,
        desks: Mapping[str, DeskFactory] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        # Desks are platform code (adapters/); the composition root hands them in.
        self._desk_factories: Mapping[str, DeskFactory] = desks or {}
        self._desks: dict[str, StaffDesk] = {}
        self.records = HandoffRecords(store)
        self.channel = settings.slack_channel or slack_channel
        self._adapters: Mapping[str, Any] = {}
        self._bound = False
        self._wake_dispatcher: Callable[[], None] = lambda: None
        self._progress: dict[int, Progress] = {}  # per outbox id, for retries
        self._details_pending: dict[int, Progress] = {}  # thread started, details not all posted
        self._locks: dict[int, asyncio.Lock] = {}
        self._open_retry: dict[int, tuple[int, float]] = {}  # failures, next try (loop time)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- wiring and lifecycle -----------------------------------------------------------

    def adapter_factory(self, context: AdapterContext) -> HandoffAdapter:
        """Factory for ``Runtime(adapter_factories={"handoff": ...})``."""
        return HandoffAdapter(context, self)

    def bind(self, runtime: Runtime) -> None:
        """Use the runtime's adapters and dispatcher; relay customers' messages from now on."""
        self._adapters = runtime.adapters
        self._bound = True
        self._wake_dispatcher = runtime.dispatcher.wake
        runtime.answerer.relay.desk_enabled = True
        previous = runtime.worker.on_completed

        def completed() -> None:  # a new handoff gets its thread without waiting for a poll
            if previous is not None:
                previous()
            self.wake()

        runtime.worker.on_completed = completed

    def check_config(self) -> None:
        """Raises ConfigError when the chosen target lacks its settings."""
        if self.settings.target == "slack" and not self.channel:
            raise ConfigError("handoff: set handoff.slack_channel or slack.staff_channel")
        if self.settings.target == "slack" and self._bound and "slack" not in self._adapters:
            raise ConfigError("handoff: the slack target needs the Slack adapter "
                              "(KEFU_SLACK__BOT_TOKEN)")  # fmt: skip
        if self.settings.target == "webhook":
            secret = self.settings.helpdesk_secret
            if not self.settings.helpdesk_url or secret is None or not secret.get_secret_value():
                raise ConfigError(
                    "handoff: the webhook target needs handoff.helpdesk_url and "
                    "KEFU_HANDOFF__HELPDESK_SECRET"
                )
        if self.settings.target not in self._desk_factories:
            raise ConfigError(f"handoff: no staff desk for target '{self.settings.target}'")
        if self.settings.target == "webhook":
            self._desk("webhook")  # a bad helpdesk secret must stop the start, not a handoff

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Re-join open staff threads (replies there are relayed) and start the loop."""
        slack = self._adapters.get("slack")
        threads = getattr(slack, "threads", None)
        if threads is not None:
            for ref in await self.records.active_staff_refs("slack"):
                threads.add(*split_ref(ref))
        self._task = asyncio.create_task(self.run(), name="kefu-handoff")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for desk in self._desks.values():
            close = getattr(desk, "close", None)
            if close is not None:
                await close()

    async def run(self) -> None:
        """Open new staff threads and send reminders until stopped."""
        while True:
            self._wake.clear()
            try:
                await self.open_pending()
                await self.check_timeouts()
            except Exception:  # the loop must outlive one bad pass; retried next tick
                log.exception("handoff pass failed; retrying in %ss", self.settings.poll_interval_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)

    # -- opening --------------------------------------------------------------------------

    async def open_pending(self) -> int:
        """Open the staff side of every active handoff that has none yet; returns how many."""
        opened = 0
        pending = {r.id: r for r in await self.records.unopened()}
        for handoff_id in list(self._details_pending):
            if handoff_id not in pending and (record := await self.records.get(handoff_id)):
                pending[handoff_id] = record
        now = asyncio.get_running_loop().time()
        for record in pending.values():
            if self._open_retry.get(record.id, (0, 0.0))[1] > now:
                continue  # backing off after a failure
            try:
                await self.ensure_open(record)
                opened += 1
                self._open_retry.pop(record.id, None)
            except PlatformError as exc:
                self._back_off(record.id, exc, now)
        return opened

    def _back_off(self, handoff_id: int, exc: PlatformError, now: float) -> None:
        failures = self._open_retry.get(handoff_id, (0, 0.0))[0] + 1
        if isinstance(exc, RateLimitedError):
            delay = exc.retry_after
        else:
            delay = min(MAX_OPEN_BACKOFF_S, 2.0**failures)
        self._open_retry[handoff_id] = (failures, now + delay)
        log.warning(
            "handoff %s: staff side not opened (attempt %s), retrying in %.1fs: %s",
            handoff_id, failures, delay, exc,
        )  # fmt: skip

    def _desk(self, target: str) -> StaffDesk:
        if target not in self._desks:
            factory = self._desk_factories.get(target)
            if factory is None:
                raise PermanentDeliveryError(f"handoff desk '{target}' is not configured")
            if target == "slack" and ("slack" not in self._adapters or not self.channel):
                raise PlatformError("handoff: the Slack adapter or staff channel is not available")
            self._desks[target] = factory(self._adapters, self.channel)
        return self._desks[target]

    async def ensure_open(self, record: HandoffRecord) -> HandoffRecord:
        """Open (or finish opening) the staff side of ``record``; returns it with ``staff_ref``."""
        async with self._locks.setdefault(record.id, asyncio.Lock()):
            current = await self.records.get(record.id) or record
            if current.staff_ref and current.id not in self._details_pending:
                return current
            desk = self._desk(current.target if current.staff_ref else self.settings.target)
            brief = await self.brief(current)
            if current.staff_ref is None:
                staff_ref = await desk.start(brief, Progress(-current.id))
                if not await self.records.set_staff_ref(current.id, staff_ref, desk.target):
                    log.warning("handoff %s was opened twice; keeping the first thread", current.id)
                    return await self.records.get(current.id) or current
                current = replace(current, staff_ref=staff_ref, target=desk.target)
                self._details_pending[current.id] = Progress(-current.id)
            assert current.staff_ref is not None
            await desk.details(brief, current.staff_ref, self._details_pending[current.id])
            del self._details_pending[current.id]
            self._locks.pop(current.id, None)
            return current

    async def brief(self, record: HandoffRecord) -> HandoffBrief:
        """What staff see: the transcript up to the handoff's turn, the summary, the draft."""
        trigger_turn, reasons = await self.records.trigger(record)
        transcript = await self.records.transcript(
            record.conversation_id, trigger_turn, self.settings.transcript_turns
        )
        customer = await self._customer(record)
        summary = texts.summarise(record, customer, transcript, self.settings.summary_messages)
        draft = next(
            (r.removeprefix(DRAFT_REASON) for r in reasons if r.startswith(DRAFT_REASON)), ""
        )
        return HandoffBrief(record, summary, tuple(transcript), draft)

    async def _customer(self, record: HandoffRecord) -> Sender:
        last = await self.records.last_customer_turn(record.conversation_id)
        return last[0] if last else Sender(record.customer_key.chat_id, "", Role.CUSTOMER)

    # -- delivery of "handoff" outbox rows ------------------------------------------------

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver a customer message (RELAY) or a reminder (NOTICE) to the staff side.

        Raises:
            PermanentDeliveryError: no such handoff, or a reply kind the desk cannot take.
            RateLimitedError, PlatformError: from the desk; the dispatcher retries.
        """
        reply = message.reply
        if not reply.key.chat_id.isdigit():
            raise PermanentDeliveryError(f"not a handoff desk key: {reply.key.as_str()!r}")
        record = await self.records.latest(int(reply.key.chat_id))
        if record is None:
            raise PermanentDeliveryError(f"no handoff for conversation {reply.key.chat_id}")
        record = await self.ensure_open(record)
        desk = self._desk(record.target)
        progress = self._progress.setdefault(message.outbox_id, Progress(message.outbox_id))
        if reply.kind is ReplyKind.RELAY:
            customer = await self._sender_of(message.turn_id, record)
            await desk.relay(record, RelayedMessage(customer, reply.text, reply.images), progress)
        elif reply.kind is ReplyKind.NOTICE:
            await desk.remind(record, reply.text, progress)
        else:
            raise PermanentDeliveryError(f"the staff desk cannot deliver a {reply.kind} reply")
        self._progress.pop(message.outbox_id, None)
        return DeliveryReceipt(tuple(progress.platform_ids))

    async def _sender_of(self, turn_id: int | None, record: HandoffRecord) -> Sender:
        if turn_id is not None:
            with contextlib.suppress(KefuError):
                return (await self.store.load_turn(turn_id)).sender
        return await self._customer(record)

    # -- timeouts -------------------------------------------------------------------------

    async def check_timeouts(self, now: datetime | None = None) -> int:
        """Ping staff (and tell the customer, the first time) about handoffs nobody took."""
        now = now or utcnow()
        timeout = timedelta(minutes=self.settings.take_timeout_minutes)
        pinged = 0
        for record in await self.records.due_for_ping(timeout, now):
            waited = round((now - record.created_at).total_seconds() / 60, 1)
            replies = [
                Reply(
                    desk_key(record.conversation_id),
                    texts.reminder_text(record, waited),
                    ReplyKind.NOTICE,
                )
            ]
            reasons = [
                f"not taken within {self.settings.take_timeout_minutes:g} min",
                "staff pinged",
            ]
            if record.pinged_at is None:  # the customer hears about the wait once
                last = await self.records.last_customer_turn(record.conversation_id)
                language = detect_language(last[1]) if last else "en"
                replies.insert(
                    0,
                    Reply(record.customer_key, text("handoff_timeout", language), ReplyKind.NOTICE),
                )
                reasons.append("customer told")
            if await self.records.claim_ping(record, timeout, replies, reasons, now):
                pinged += 1
        if pinged:
            self._wake_dispatcher()
        return pinged


class HandoffAdapter(Adapter[Turn, Reply]):
    """The ``"handoff"`` pseudo platform: the dispatcher's deliverer for staff-desk rows.

    It receives nothing; its lifecycle runs the service's loop.
    """

    name: ClassVar[str] = "handoff"
    receives: ClassVar[bool] = False  # its start() runs the desk loop: worker role
    capabilities: ClassVar[Capabilities] = Capabilities(images=True)

    def __init__(self, context: AdapterContext, service: HandoffService) -> None:
        super().__init__(context)
        self.service = service

    async def initialize(self) -> None:
        """Raises ConfigError when the handoff target lacks its settings."""
        self.service.check_config()

    async def start(self) -> None:
        await self.service.start()

    async def shutdown(self) -> None:
        await self.service.stop()

    def to_turn(self, raw: Turn) -> Turn:
        raise UnsupportedContentError("the handoff desk receives nothing directly")

    def to_platform(self, reply: Reply) -> list[Reply]:
        return [reply]

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        return await self.service.deliver(message)
