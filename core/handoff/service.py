"""The handoff service: opens staff threads, delivers relays, pings when nobody takes over.

Durability comes from the store, not from this process:

- The answer that hands a conversation over commits its ``handoffs`` row (``staff_ref``
  NULL) together with the customer's notice. This service's loop (woken after every
  answer, and polling) opens the staff side of every active handoff without a
  ``staff_ref``: it posts the thread's first message, stores ``staff_ref`` at once (so a
  crash never opens a second thread), then adds the transcript, photos and draft.
- Customer messages during a handoff are outbox rows on the pseudo platform
  ``"handoff"`` (:data:`core.handoff.relay.DESK_PLATFORM`); this service is their
  deliverer (the dispatcher retries it like any adapter) and opens the staff side first
  if the loop has not yet.
- Reminders are claimed with ``UPDATE … WHERE pinged_at`` is due, and queued with the
  customer's ``handoff_timeout`` notice in the same transaction: one ping per period.

Wiring (``main.py``): the desks are built first, then this service with them and the
outbox's bell; the runtime gets the service as the ``"handoff"`` deliverer, as a service
to start and stop, and rings :meth:`HandoffService.wake` after every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.errors import (
    ConfigError,
    KefuError,
    PermanentDeliveryError,
    PlatformError,
    RateLimitedError,
)
from core.handoff import summary as texts
from core.handoff.desk import HandoffBrief, Progress, RelayedMessage, StaffDesk
from core.handoff.relay import DRAFT_REASON, desk_key
from core.model.handoff import HandoffRecord
from core.model.turn import Reply, ReplyKind, Role, Sender
from core.ports import Bell, DeliveryReceipt, OutboundMessage
from core.store.db import utcnow
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from core.texts import detect_language, text

log = logging.getLogger(__name__)
MAX_OPEN_BACKOFF_S = 300.0


@dataclass(frozen=True, slots=True)
class HandoffOptions:
    """How the handoff service runs.

    Attributes:
        take_timeout_minutes: After this long without anyone taking a handoff, the customer
            is told (once) and staff are pinged again, every period while nobody takes it.
        transcript_turns: How many recent turns staff see.
        summary_messages: How many recent customer messages the summary quotes.
        poll_interval_s: How often the service looks for handoffs to open or ping.
    """

    take_timeout_minutes: float = 15.0
    transcript_turns: int = 10
    summary_messages: int = 3
    poll_interval_s: float = 10.0


class HandoffService:
    """Runs the staff side of handoffs.

    Args:
        store: The durable store.
        desks: Every desk that may hold handoffs (older handoffs keep the desk they were
            opened on); new handoffs go to the first.
        outbox: Rung when this service queues messages (reminders), so they go out at once.
        options: Timeouts and transcript sizes.

    Raises:
        ConfigError: no desk, or two desks with the same target.
    """

    retry_schedule: tuple[float, ...] | None = None  # the dispatcher's own schedule
    # Relays queued behind each other reach staff as one message (see core.runtime.dispatcher):
    # a customer typing fast must not leave a hundred messages pending at the desk's pace.
    coalesce_relays = True

    def __init__(
        self,
        store: Store,
        desks: Sequence[StaffDesk],
        outbox: Bell,
        options: HandoffOptions | None = None,
    ) -> None:
        if not desks:
            raise ConfigError("handoff: no staff desk is configured")
        self.desks: dict[str, StaffDesk] = {d.target: d for d in desks}
        if len(self.desks) != len(desks):
            raise ConfigError("handoff: two staff desks have the same target")
        self.default_target = desks[0].target
        self.store = store
        self.options = options or HandoffOptions()
        self.records = HandoffRecords(store)
        self._outbox = outbox
        self._progress: dict[int, Progress] = {}  # per outbox id, for retries
        self._details_pending: dict[int, Progress] = {}  # thread started, details not all posted
        self._locks: dict[int, asyncio.Lock] = {}
        self._open_retry: dict[int, tuple[int, float]] = {}  # failures, next try (loop time)
        self._wake = Bell()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for new handoffs now (rung after every answer)."""
        self._wake.ring()

    async def start(self) -> None:
        """Start the desks with their active handoffs (replies there are relayed), then the loop."""
        for desk in self.desks.values():
            await desk.start(await self.records.active_staff_refs(desk.target))
        self._task = asyncio.create_task(self.run(), name="kefu-handoff")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for desk in self.desks.values():
            await desk.stop()

    async def run(self) -> None:
        """Open new staff threads and send reminders until stopped."""
        interval = self.options.poll_interval_s
        while True:
            self._wake.clear()
            try:
                await self.open_pending()
                await self.check_timeouts()
            except Exception:  # the loop must outlive one bad pass; retried next tick
                log.exception("handoff pass failed; retrying in %ss", interval)
            await self._wake.wait(interval)

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
        desk = self.desks.get(target)
        if desk is None:
            raise PermanentDeliveryError(f"handoff desk '{target}' is not configured")
        return desk

    async def ensure_open(self, record: HandoffRecord) -> HandoffRecord:
        """Open (or finish opening) the staff side of ``record``; returns it with ``staff_ref``."""
        async with self._locks.setdefault(record.id, asyncio.Lock()):
            current = await self.records.get(record.id) or record
            if current.staff_ref and current.id not in self._details_pending:
                return current
            desk = self._desk(current.target if current.staff_ref else self.default_target)
            brief = await self.brief(current)
            if current.staff_ref is None:
                staff_ref = await desk.open(brief, Progress(-current.id))
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
            record.conversation_id, trigger_turn, self.options.transcript_turns
        )
        customer = await self._customer(record)
        summary = texts.summarise(record, customer, transcript, self.options.summary_messages)
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
        timeout = timedelta(minutes=self.options.take_timeout_minutes)
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
                f"not taken within {self.options.take_timeout_minutes:g} min",
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
            self._outbox.ring()
        return pinged
