"""Outbox delivery: 429s waited out, bounded retries, dead letters, no duplicate sends."""

from __future__ import annotations

import asyncio
import time

from core.errors import PermanentDeliveryError, PlatformError, RateLimitedError
from core.model.decision import Completion, Decision, DecisionKind
from core.model.turn import ConversationKey, Reply
from core.ports import DeliveryReceipt, OutboundMessage
from core.runtime.dispatcher import Dispatcher
from core.store.queue import InboxQueue
from core.store.store import Store
from tests.conftest import make_turn


class ScriptedAdapter:
    """Fails according to a script, then succeeds; records every attempt."""

    def __init__(
        self, failures: list[Exception], retry_schedule: tuple[float, ...] | None = None
    ) -> None:
        self.failures = failures
        self.attempts: list[tuple[float, str]] = []
        self.sent: list[str] = []
        self.retry_schedule = retry_schedule

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        self.attempts.append((time.monotonic(), message.reply.text))
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message.reply.text)
        return DeliveryReceipt((f"p{len(self.sent)}",))


async def _answered(store: Store, *texts: str) -> None:
    key = ConversationKey("fake", "c1")
    await store.put(make_turn("q", chat="c1", platform="fake"))
    queue = InboxQueue(store, "w")
    (claim,) = await queue.claim(1)
    replies = tuple(Reply(key, t) for t in texts)
    await queue.complete(claim, key, Completion(replies, Decision(DecisionKind.ANSWER)))


async def _run_until(dispatcher: Dispatcher, store: Store, predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    await dispatcher.start()
    try:
        async with asyncio.timeout(timeout):
            while not predicate(await store.counts()):
                await asyncio.sleep(0.02)
    finally:
        await dispatcher.stop()


async def test_rate_limit_is_waited_out_and_delivered_once(store: Store) -> None:
    adapter = ScriptedAdapter([RateLimitedError("slow down", retry_after=0.3)])
    await _answered(store, "hello")
    dispatcher = Dispatcher(store, {"fake": adapter}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 1)
    assert adapter.sent == ["hello"]
    assert adapter.attempts[1][0] - adapter.attempts[0][0] >= 0.29  # honoured Retry-After


async def test_long_retry_after_is_rescheduled_durably(store: Store) -> None:
    adapter = ScriptedAdapter([RateLimitedError("slow down", retry_after=3600)])
    await _answered(store, "hello")
    dispatcher = Dispatcher(store, {"fake": adapter}, poll_interval_s=0.02)
    await _run_until(
        dispatcher, store, lambda c: len(adapter.attempts) == 1 and c.get("outbox.pending") == 1
    )
    assert adapter.sent == []


async def test_replies_are_delivered_in_order(store: Store) -> None:
    adapter = ScriptedAdapter([PlatformError("flaky")])
    await _answered(store, "one", "two", "three")
    dispatcher = Dispatcher(store, {"fake": adapter}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 3)
    assert adapter.sent == ["one", "two", "three"]


async def test_failing_delivery_is_dead_lettered_after_the_schedule(store: Store) -> None:
    adapter = ScriptedAdapter([PlatformError("down")] * 100, retry_schedule=(0.05, 0.05))
    await _answered(store, "hello")
    dispatcher = Dispatcher(store, {"fake": adapter}, inline_attempts=2, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.dead") == 1)
    assert adapter.sent == [] and len(adapter.attempts) == 3  # own schedule: no inline retries


async def test_default_schedule_retries_inline_too(store: Store) -> None:
    adapter = ScriptedAdapter([PlatformError("down")] * 100)
    await _answered(store, "hello")
    dispatcher = Dispatcher(
        store, {"fake": adapter}, schedule_s=(0.05,), inline_attempts=2, poll_interval_s=0.02
    )
    await _run_until(dispatcher, store, lambda c: c.get("outbox.dead") == 1)
    assert len(adapter.attempts) == 4  # 2 durable attempts x 2 inline


async def test_permanent_failure_is_dead_lettered_at_once(store: Store) -> None:
    adapter = ScriptedAdapter([PermanentDeliveryError("bot was blocked")])
    await _answered(store, "hello")
    dispatcher = Dispatcher(store, {"fake": adapter}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.dead") == 1)
    assert len(adapter.attempts) == 1
