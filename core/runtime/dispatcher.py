"""The outbox dispatcher: delivers replies through adapters, in order, with bounded retries.

Each conversation is its own delivery lane: a lane delivers its conversation's oldest open
row, and the dispatcher claims the next rows for other lanes while it does. One chat that
a platform slows down (a 429 with ``retry_after`` 20 s) therefore never delays another
chat's replies, and each chat still gets its replies in order (only a conversation's
oldest open row is ever claimed). Waits longer than ``max_inline_wait_s`` are not slept
in a lane: the row is rescheduled durably and its lane slot goes to other chats.

Rows on a deliverer that coalesces relays (``coalesce_relays``, the staff desk) are sent
together: a lane that holds a relay also takes the relays queued right behind it in the
same conversation and delivers them as one message, so a customer writing fast during a
handoff becomes one staff message (or a few), not one per line at the desk's pace.

Short retries (a 429 with a few seconds of Retry-After, a flaky connection) happen in
process with tenacity. Longer schedules (webhook callbacks: 5 min, 30 min, …) are durable:
the row's ``next_attempt_at`` moves and any dispatcher picks it up later. After the
schedule, a row is dead-lettered and kept for inspection.

A lane holds its rows under a fencing token (:mod:`core.store.outbox`) and renews their
lease while it works. A lane whose process starved past its lease finds out before its next
platform send (the adapter asks ``OutboundMessage.progress.ensure_held``) or when its record
is refused, and gives up the row without sending: the replica that took the row over sends
it, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client import Counter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.errors import (
    LeaseLostError,
    PermanentDeliveryError,
    PlatformError,
    RateLimitedError,
    StoreError,
)
from core.model.turn import Reply, ReplyKind
from core.ports import Bell
from core.ports_delivery import Deliverer, DeliveryReceipt, OutboundMessage
from core.runtime.fencing import FenceStage, RowProgress
from core.store.outbox import OutboxQueue, OutboxRow
from core.store.store import Store

log = logging.getLogger(__name__)

DELIVERIES = Counter("kefu_deliveries_total", "Outbox deliveries", ["platform", "result"])
COALESCED = Counter(
    "kefu_relays_coalesced_total", "Relayed messages merged into an earlier one", ["platform"]
)
TAKEN_OVER = Counter(
    "kefu_outbox_taken_over_total",
    "Rows taken over from a process that died (or stalled) mid-delivery: each may repeat "
    "one part, sent but not recorded (platforms without an idempotency key show it twice)",
    ["platform"],
)
FENCED = Counter(
    "kefu_outbox_fenced_total",
    "Deliveries given up by a holder whose lease lapsed (its row taken over, or too close "
    "to running out): before a platform send (nothing sent) or at a refused record",
    ["platform", "stage"],
)


MAX_INLINE_WAIT_S = 5.0  # longer Retry-After values are rescheduled durably
MAX_RATE_LIMITED_ATTEMPTS = 20  # a receiver answering 429 forever is dead-lettered eventually
MAX_COALESCED = 20  # relays merged into one staff message at most


def _wait_for_retry_after(retry_state) -> float:  # type: ignore[no-untyped-def]
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, RateLimitedError):
        return float(exc.retry_after)
    return float(wait_exponential(multiplier=0.2, max=2)(retry_state))


def _retryable_within(max_wait_s: float):  # type: ignore[no-untyped-def]
    def retryable(exc: BaseException) -> bool:
        if isinstance(exc, RateLimitedError):
            return exc.retry_after <= max_wait_s
        return isinstance(exc, PlatformError) and not isinstance(exc, PermanentDeliveryError)

    return retryable


class Dispatcher:
    """Delivers the outbox, one lane per conversation.

    Args:
        store: The store.
        adapters: Adapter per platform name (``"webhook:shop"`` is served by ``"webhook"``).
        schedule_s: Durable retry delays after the in-process attempts fail; an adapter's
            own ``retry_schedule`` attribute overrides it.
        inline_attempts: In-process attempts per durable attempt.
        concurrency: Most conversations delivered to at once (lanes).
        linger_s: Pause after a wake-up before claiming, so that replies finishing
            together are claimed in one go.
        bell: Rung by whoever queues outbox rows (a new one when not given).
        max_inline_wait_s: A 429 asking for a longer wait is rescheduled durably instead of
            slept in the lane.
    """

    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, Deliverer],
        schedule_s: Sequence[float] = (1, 5, 30, 120),
        inline_attempts: int = 3,
        concurrency: int = 32,
        poll_interval_s: float = 0.5,
        lease_s: float = 15.0,
        linger_s: float = 0.01,
        bell: Bell | None = None,
        max_inline_wait_s: float = MAX_INLINE_WAIT_S,
    ) -> None:
        self.queue = OutboxQueue(store, lease_s)
        self.lease_s = lease_s
        self.linger_s = linger_s
        self.adapters = adapters
        self.schedule_s = tuple(schedule_s)
        self.inline_attempts = inline_attempts
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.max_inline_wait_s = max_inline_wait_s
        self._wake = bell or Bell()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None
        self._lanes: dict[int, asyncio.Task[None]] = {}  # conversation id -> its delivery
        self._next: dict[int, OutboxRow] = {}  # claimed while the conversation's lane was busy

    def wake(self) -> None:
        self._wake.ring()

    @property
    def busy(self) -> bool:
        """Deliveries are under way right now."""
        return bool(self._lanes)

    async def start(self) -> None:
        """Deliver the outbox until :meth:`stop`."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="kefu-dispatcher")

    async def _run(self) -> None:
        platforms = list(self.adapters)
        while not self._stopping:
            # Cleared before the claim: a wake-up that arrives during it is not lost.
            self._wake.clear()
            free = self.concurrency - len(self._lanes)
            if free > 0:
                rows = await self._claim(platforms, free)
                opened = sum(self._open_lane(row) for row in rows)
                if rows and len(rows) == free and opened:
                    continue  # more may be due
            await self._wake.wait(await self._idle_wait())
            if self.linger_s and not self._stopping:
                await asyncio.sleep(self.linger_s)  # replies finishing together go out together

    def _open_lane(self, row: OutboxRow) -> bool:
        if row.conversation_id in self._lanes:
            # Our own lease lapsed and the row came back to us under a new token (or the
            # lane is finishing the row before it): the lane with the old token is fenced
            # off at its next send, and this claim is delivered as soon as the lane ends,
            # not left to lapse once more.
            self._next[row.conversation_id] = row
            return False
        lane = asyncio.create_task(self._deliver_lane(row), name=f"kefu-lane-{row.conversation_id}")
        self._lanes[row.conversation_id] = lane
        lane.add_done_callback(lambda _: self._lane_done(row.conversation_id))
        return True

    def _lane_done(self, conversation_id: int) -> None:
        self._lanes.pop(conversation_id, None)
        waiting = self._next.pop(conversation_id, None)
        if waiting is not None and not self._stopping:
            self._open_lane(waiting)
        self._wake.ring()  # a slot is free, and the conversation may have its next row

    async def _deliver_lane(self, row: OutboxRow) -> None:
        try:
            await self.deliver_row(row)
        except StoreError as exc:
            # The bookkeeping write failed: the row's lease lapses and it is tried again.
            log.warning("outbox %s: bookkeeping failed, retried later: %s", row.id, exc)
        except Exception:
            log.exception("outbox %s: delivery lane failed", row.id)

    async def _claim(self, platforms: list[str], limit: int) -> list[OutboxRow]:
        try:
            return await self.queue.claim(limit, platforms)
        except StoreError as exc:
            # The database is busy or away: the replies wait in the outbox; try again later.
            log.warning("claiming outbox rows failed, retrying: %s", exc)
            return []

    async def _idle_wait(self) -> float:
        try:
            due = await self.queue.next_due()
        except StoreError:
            return self.poll_interval_s
        if due is None:
            return self.poll_interval_s
        return max(0.01, min(self.poll_interval_s, (due - datetime.now(UTC)).total_seconds()))

    async def stop(self) -> None:
        """Let the deliveries under way finish, then finish their bookkeeping writes."""
        self._stopping = True
        self._wake.ring()
        loop, self._loop = self._loop, None
        if loop is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if self._lanes:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        await self.queue.close()

    def _schedule_for(self, row: OutboxRow) -> tuple[float, ...]:
        own = self.adapters[row.adapter].retry_schedule
        return tuple(own) if own is not None else self.schedule_s

    def _inline_attempts_for(self, adapter: Deliverer) -> int:
        # An adapter with its own (spec-defined) schedule gets exactly that many attempts.
        return 1 if adapter.retry_schedule is not None else self.inline_attempts

    async def _followers(self, row: OutboxRow, reply: Reply) -> list[OutboxRow]:
        adapter = self.adapters[row.adapter]
        if reply.kind is not ReplyKind.RELAY or not getattr(adapter, "coalesce_relays", False):
            return []
        return await self.queue.claim_followers(row, MAX_COALESCED - 1)

    async def deliver_row(self, row: OutboxRow) -> bool:
        """Deliver one row (with the relays coalesced behind it); True when delivered."""
        adapter = self.adapters[row.adapter]
        if row.taken_over:
            # Its holder died between a send and its record, or before sending: which one
            # cannot be known (no idempotency key, no way to read the chat back). Sent again
            # on purpose: a repeated part is recoverable, a reply never sent is not.
            TAKEN_OVER.labels(row.platform).inc()
            log.warning("outbox %s: taken over mid-delivery; its unrecorded part is sent again "
                     "(recorded: %s)", row.id, len(row.platform_message_ids or ()))  # fmt: skip
        leased = [row]  # renewed from the start: loading the reply may be slow under load
        keeper = asyncio.create_task(self._keep_lease(leased))
        try:
            reply = await self.queue.reply_of(row)
            followers = await self._followers(row, reply)
            leased += followers
            if followers:
                reply = _merged(reply, [await self.queue.reply_of(f) for f in followers])
        except BaseException:
            keeper.cancel()
            raise
        progress = RowProgress(self.queue, row)
        message = OutboundMessage(
            row.id, reply, row.turn_id, row.seq, row.final, row.stream_ref, row.attempts + 1,
            sent=tuple(row.platform_message_ids or ()), progress=progress,
        )  # fmt: skip
        try:
            receipt = await self._attempt(adapter, message, self._inline_attempts_for(adapter))
        except BaseException as exc:
            keeper.cancel()
            if isinstance(exc, LeaseLostError):
                return await self._fenced(leased, progress.fenced_at or FenceStage.SEND, exc)
            if followers:  # they go back in line, behind the head, untouched
                await self.queue.release(followers)
            if not isinstance(exc, Exception):
                raise
            return await self._failed(row, exc)
        try:
            # The lease is kept until "delivered" is committed: a lease that ran out while
            # the mark waited for the database would let another replica send it again.
            marked = [await self.queue.delivered(r, receipt.platform_message_ids) for r in leased]
        finally:
            keeper.cancel()
        if not all(marked):
            lost = [r for r, ok in zip(leased, marked, strict=True) if not ok]
            self._count_fenced(lost, FenceStage.RECORD, "its delivered mark was refused")
        DELIVERIES.labels(row.platform, "delivered").inc(sum(marked))
        if followers:
            COALESCED.labels(row.platform).inc(sum(marked[1:]))
        return marked[0]

    async def _fenced(self, rows: list[OutboxRow], stage: FenceStage, exc: Exception) -> bool:
        """Give up rows this lane no longer holds safely (see the module docstring). Those
        not taken over yet go back at once; nothing this attempt sent is unrecorded."""
        with contextlib.suppress(StoreError):  # not released: the lease lapses instead
            await self.queue.release(rows)
        self._count_fenced(rows[:1], stage, str(exc))
        return False

    def _count_fenced(self, rows: Sequence[OutboxRow], stage: FenceStage, why: str) -> None:
        for row in rows:
            FENCED.labels(row.platform, stage.value).inc()
            log.warning("outbox %s: lease lapsed (token %s), given up at %s: %s",
                        row.id, row.lease_token, stage.value, why)  # fmt: skip

    async def _failed(self, row: OutboxRow, exc: Exception) -> bool:
        if isinstance(exc, PermanentDeliveryError):
            await self._record(row, "dead", self.queue.dead(row, f"{exc.code}: {exc}"))
            return False
        if isinstance(exc, RateLimitedError):
            if row.attempts >= MAX_RATE_LIMITED_ATTEMPTS:
                error = f"still rate limited after {row.attempts} attempts: {exc}"
                await self._record(row, "dead", self.queue.dead(row, error))
                return False
            retry = self.queue.retry_later(row, exc.retry_after, f"rate limited: {exc}")
            await self._record(row, "deferred", retry)
            return False
        return await self._reschedule(row, f"{type(exc).__name__}: {exc}")

    async def _record(self, row: OutboxRow, result: str, write: Awaitable[bool]) -> None:
        """Count a failed attempt's outcome, unless its record was refused (taken over)."""
        if await write:
            DELIVERIES.labels(row.platform, result).inc()
        else:
            self._count_fenced([row], FenceStage.RECORD, f"its {result} record was refused")

    async def _keep_lease(self, rows: Sequence[OutboxRow]) -> None:
        # A crashed dispatcher's rows come back after one short lease, not after the
        # longest delivery could take. A renewal refused means the row was taken over:
        # nothing to keep (the next send or record of this lane is refused too). A failed
        # one is tried again a third of a lease later: the lease is not lost to one error.
        while True:
            await asyncio.sleep(self.lease_s / 3)
            for row in rows:
                try:
                    held = await self.queue.renew(row)
                except StoreError as exc:
                    log.warning("outbox %s: lease not renewed, trying again: %s", row.id, exc)
                    continue
                if not held:
                    log.warning("outbox %s: taken over while this lane held it", row.id)
                    return

    async def _attempt(
        self, adapter: Deliverer, message: OutboundMessage, attempts: int
    ) -> DeliveryReceipt:
        if attempts == 1:  # the adapter's own schedule retries durably; nothing to wrap
            return await adapter.deliver(message)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=_wait_for_retry_after,
            retry=retry_if_exception(_retryable_within(self.max_inline_wait_s)),
            reraise=True,
        ):
            with attempt:
                return await adapter.deliver(message)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _reschedule(self, row: OutboxRow, error: str) -> bool:
        schedule = self._schedule_for(row)
        if row.attempts >= len(schedule):
            log.error(
                "outbox %s dead-lettered after %s attempts: %s", row.id, row.attempts + 1, error
            )
            await self._record(row, "dead", self.queue.dead(row, error))
        else:
            retry = self.queue.retry_later(row, schedule[row.attempts], error)
            await self._record(row, "retry", retry)
        return False


def _merged(head: Reply, followers: list[Reply]) -> Reply:
    """One staff message for several relayed customer messages, in order."""
    replies = [head, *followers]
    text = "\n".join(r.text for r in replies if r.text.strip())
    images = tuple(image for r in replies for image in r.images)
    return replace(head, text=text, images=images)
