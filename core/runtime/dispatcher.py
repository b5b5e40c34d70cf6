"""The outbox dispatcher: delivers replies through adapters, in order, with bounded retries.

Short retries (a 429 with a few seconds of Retry-After, a flaky connection) happen in
process with tenacity. Longer schedules (webhook callbacks: 5 min, 30 min, …) are durable:
the row's ``next_attempt_at`` moves and any dispatcher picks it up later. After the
schedule, a row is dead-lettered and kept for inspection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from prometheus_client import Counter
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.errors import PermanentDeliveryError, PlatformError, RateLimitedError, StoreError
from core.ports import Bell, Deliverer, DeliveryReceipt, OutboundMessage
from core.store.outbox import OutboxQueue, OutboxRow
from core.store.store import Store

log = logging.getLogger(__name__)

DELIVERIES = Counter("kefu_deliveries_total", "Outbox deliveries", ["platform", "result"])
MAX_INLINE_WAIT_S = 30.0  # longer Retry-After values are rescheduled durably
MAX_RATE_LIMITED_ATTEMPTS = 20  # a receiver answering 429 forever is dead-lettered eventually


def _wait_for_retry_after(retry_state) -> float:  # type: ignore[no-untyped-def]
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if isinstance(exc, RateLimitedError):
        return float(exc.retry_after)
    return float(wait_exponential(multiplier=0.2, max=2)(retry_state))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, RateLimitedError):
        return exc.retry_after <= MAX_INLINE_WAIT_S
    return isinstance(exc, PlatformError) and not isinstance(exc, PermanentDeliveryError)


class Dispatcher:
    """Delivers the outbox.

    Args:
        store: The store.
        adapters: Adapter per platform name (``"webhook:shop"`` is served by ``"webhook"``).
        schedule_s: Durable retry delays after the in-process attempts fail; an adapter's
            own ``retry_schedule`` attribute overrides it.
        inline_attempts: In-process attempts per durable attempt.
        linger_s: Pause after a wake-up before claiming, so that replies finishing
            together are claimed in one go.
        bell: Rung by whoever queues outbox rows (a new one when not given).
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
    ) -> None:
        self.queue = OutboxQueue(store, lease_s)
        self.lease_s = lease_s
        self.linger_s = linger_s
        self.adapters = adapters
        self.schedule_s = tuple(schedule_s)
        self.inline_attempts = inline_attempts
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self._wake = bell or Bell()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.ring()

    async def start(self) -> None:
        """Deliver the outbox until :meth:`stop`."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="kefu-dispatcher")

    async def _run(self) -> None:
        platforms = list(self.adapters)
        while not self._stopping:
            # Cleared before the claim: a wake-up that arrives during it is not lost.
            self._wake.clear()
            rows = await self._claim(platforms)
            if rows:
                await asyncio.gather(
                    *(self._deliver_conversation(group) for group in _by_conversation(rows))
                )
                if len(rows) == self.concurrency or self._wake.rung:
                    continue
            await self._wake.wait(await self._idle_wait())
            if self.linger_s and not self._stopping:
                await asyncio.sleep(self.linger_s)  # replies finishing together go out together

    async def _claim(self, platforms: list[str]) -> list[OutboxRow]:
        try:
            return await self.queue.claim(self.concurrency, platforms)
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
        await self.queue.close()

    async def _deliver_conversation(self, rows: list[OutboxRow]) -> None:
        for row in rows:
            if not await self.deliver_row(row):
                break  # keep order: later rows of this conversation wait

    def _schedule_for(self, row: OutboxRow) -> tuple[float, ...]:
        own = self.adapters[row.adapter].retry_schedule
        return tuple(own) if own is not None else self.schedule_s

    def _inline_attempts_for(self, adapter: Deliverer) -> int:
        # An adapter with its own (spec-defined) schedule gets exactly that many attempts.
        return 1 if adapter.retry_schedule is not None else self.inline_attempts

    async def deliver_row(self, row: OutboxRow) -> bool:
        """Deliver one row; True when it is delivered."""
        adapter = self.adapters[row.adapter]
        reply = await self.queue.reply_of(row)
        message = OutboundMessage(
            row.id, reply, row.turn_id, row.seq, row.final, row.stream_ref, row.attempts + 1
        )
        keeper = asyncio.create_task(self._keep_lease(row))
        try:
            receipt = await self._attempt(adapter, message, self._inline_attempts_for(adapter))
        except PermanentDeliveryError as exc:
            await self.queue.dead(row, f"{exc.code}: {exc}")
            DELIVERIES.labels(row.platform, "dead").inc()
            return False
        except RateLimitedError as exc:
            if row.attempts >= MAX_RATE_LIMITED_ATTEMPTS:
                await self.queue.dead(
                    row, f"still rate limited after {row.attempts} attempts: {exc}"
                )
                DELIVERIES.labels(row.platform, "dead").inc()
                return False
            await self.queue.retry_later(row, exc.retry_after, f"rate limited: {exc}")
            return False
        except Exception as exc:
            return await self._reschedule(row, f"{type(exc).__name__}: {exc}")
        finally:
            keeper.cancel()
        await self.queue.delivered(row, receipt.platform_message_ids)
        DELIVERIES.labels(row.platform, "delivered").inc()
        return True

    async def _keep_lease(self, row: OutboxRow) -> None:
        # A crashed dispatcher's rows come back after one short lease, not after the
        # longest delivery could take.
        while True:
            await asyncio.sleep(self.lease_s / 3)
            await self.queue.renew(row)

    async def _attempt(
        self, adapter: Deliverer, message: OutboundMessage, attempts: int
    ) -> DeliveryReceipt:
        if attempts == 1:  # the adapter's own schedule retries durably; nothing to wrap
            return await adapter.deliver(message)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=_wait_for_retry_after,
            retry=retry_if_exception(_retryable),
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
            await self.queue.dead(row, error)
            DELIVERIES.labels(row.platform, "dead").inc()
        else:
            await self.queue.retry_later(row, schedule[row.attempts], error)
            DELIVERIES.labels(row.platform, "retry").inc()
        return False


def _by_conversation(rows: list[OutboxRow]) -> list[list[OutboxRow]]:
    groups: dict[int, list[OutboxRow]] = {}
    for row in rows:
        groups.setdefault(row.conversation_id, []).append(row)
    return list(groups.values())
