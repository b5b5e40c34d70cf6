"""Outbox delivery: 429s waited out, bounded retries, dead letters, no duplicate sends."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from core.errors import PermanentDeliveryError, PlatformError, RateLimitedError, StoreError
from core.model.decision import Completion, Decision, DecisionKind
from core.model.turn import ConversationKey, Reply
from core.ports import DeliveryReceipt, OutboundMessage
from core.runtime.dispatcher import Dispatcher
from core.store.outbox import OutboxQueue, OutboxRow
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


class ChatThrottledAdapter:
    """Answers 429 (``retry_after``) for one chat's first ``limited`` sends; records the rest."""

    retry_schedule = None

    def __init__(self, slow_chat: str, retry_after: float, limited: int = 1) -> None:
        self.slow_chat = slow_chat
        self.retry_after = retry_after
        self.limited = limited
        self.sent: list[tuple[str, str]] = []

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        chat = message.reply.key.chat_id
        if chat == self.slow_chat and self.limited > 0:
            self.limited -= 1
            raise RateLimitedError("429 Too Many Requests", retry_after=self.retry_after)
        self.sent.append((chat, message.reply.text))
        return DeliveryReceipt((str(message.outbox_id),))


async def _answer_in(store: Store, chat: str, *texts: str) -> None:
    key = ConversationKey("fake", chat)
    await store.put(make_turn("q", chat=chat, platform="fake"))
    queue = InboxQueue(store, "w")
    for claim in await queue.claim(10):
        if claim.turn.key == key:
            replies = tuple(Reply(key, t) for t in texts)
            await queue.complete(claim, key, Completion(replies, Decision(DecisionKind.ANSWER)))


async def test_a_chat_told_to_wait_20_s_does_not_delay_other_chats(store: Store) -> None:
    adapter = ChatThrottledAdapter("slow", retry_after=20)
    await _answer_in(store, "slow", "s1", "s2")
    for chat in ("a", "b", "c"):
        await _answer_in(store, chat, f"{chat}1", f"{chat}2", f"{chat}3")
    dispatcher = Dispatcher(store, {"fake": adapter}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 9)
    assert [t for chat, t in adapter.sent if chat == "a"] == ["a1", "a2", "a3"]
    assert all(chat != "slow" for chat, _ in adapter.sent)  # s1 waits, s2 waits behind it
    counts = await store.counts()
    assert counts["outbox.pending"] == 2  # rescheduled durably, in order, still there


async def test_an_inline_wait_holds_only_its_own_lane(store: Store) -> None:
    adapter = ChatThrottledAdapter("slow", retry_after=3.0)
    await _answer_in(store, "slow", "s1", "s2")
    await _answer_in(store, "b", "b1", "b2", "b3")
    dispatcher = Dispatcher(store, {"fake": adapter}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 5, timeout=30)
    order = [t for _, t in adapter.sent]
    # b's replies all went out while "slow" waited out its 429 in its own lane.
    assert order.index("b3") < order.index("s1") < order.index("s2")


class SlowDesk:
    """A staff desk that takes a while per message and merges relays (as the handoff service)."""

    retry_schedule = None
    coalesce_relays = True

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        await asyncio.sleep(0.2)
        self.sent.append(message.reply.text)
        return DeliveryReceipt((str(message.outbox_id),))


async def test_relays_queued_behind_each_other_go_to_staff_together(store: Store) -> None:
    from core.model.turn import ReplyKind

    key = ConversationKey("fake", "desk")
    await store.put(make_turn("q", chat="desk", platform="fake"))
    queue = InboxQueue(store, "w")
    (claim,) = await queue.claim(1)
    relays = tuple(Reply(key, f"line {i}", ReplyKind.RELAY) for i in range(30))
    await queue.complete(claim, key, Completion(relays, Decision(DecisionKind.RELAY)))
    desk = SlowDesk()
    dispatcher = Dispatcher(store, {"fake": desk}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 30)
    assert len(desk.sent) <= 3  # 30 rapid customer messages, at most 3 staff messages
    assert "\n".join(desk.sent).split("\n") == [f"line {i}" for i in range(30)]  # in order


async def test_a_failed_merged_relay_gives_its_followers_back_in_order(store: Store) -> None:
    from core.model.turn import ReplyKind

    class FlakyDesk(SlowDesk):
        def __init__(self) -> None:
            super().__init__()
            self.failures = 1

        async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
            if self.failures:
                self.failures -= 1
                raise PlatformError("desk down")
            return await super().deliver(message)

    key = ConversationKey("fake", "desk")
    await store.put(make_turn("q", chat="desk", platform="fake"))
    queue = InboxQueue(store, "w")
    (claim,) = await queue.claim(1)
    relays = tuple(Reply(key, f"line {i}", ReplyKind.RELAY) for i in range(5))
    await queue.complete(claim, key, Completion(relays, Decision(DecisionKind.RELAY)))
    desk = FlakyDesk()
    dispatcher = Dispatcher(
        store, {"fake": desk}, schedule_s=(0.05,), inline_attempts=1, poll_interval_s=0.02
    )
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 5)
    assert "\n".join(desk.sent).split("\n") == [f"line {i}" for i in range(5)]


class StallingSender:
    """A platform without an idempotency key, driven like the Telegram sender: the send
    waits (pacing, a starved machine), then checks the row is still held, then goes out."""

    retry_schedule = None

    def __init__(self, checks: bool = True, stall_s: float | None = None) -> None:
        self.go = asyncio.Event()  # set: the stall ends (without ``stall_s``)
        self.started = asyncio.Event()  # a delivery is under way
        self.stall_s = stall_s
        self.checks = checks
        self.sent: list[str] = []

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        self.started.set()
        if self.stall_s is None:
            await self.go.wait()
        else:
            await asyncio.sleep(self.stall_s)
        if self.checks and message.progress is not None:
            await message.progress.ensure_held()
        self.sent.append(message.reply.text)
        return DeliveryReceipt((f"starved-{len(self.sent)}",))


class StuckRenewals(OutboxQueue):
    """A database that never gets to this holder's renewals: the holder is alive, but its
    lease lapses as if its process were starved."""

    async def renew(self, row: OutboxRow) -> bool:
        await asyncio.Event().wait()
        return False


class FlakyRenewals(OutboxQueue):
    """A database that fails the first renewal (a dropped connection, too many clients)."""

    failed = False

    async def renew(self, row: OutboxRow) -> bool:
        if not self.failed:
            self.failed = True
            raise StoreError("too many clients already")
        return await super().renew(row)


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _starved_holder(store: Store, adapter: StallingSender) -> asyncio.Task[bool]:
    """Claim the row under a 0.3 s lease and start delivering it without renewals."""
    starved = Dispatcher(store, {"fake": adapter}, lease_s=0.3)
    starved.queue = StuckRenewals(store, 0.3)
    (row,) = await starved.queue.claim(1)
    return asyncio.create_task(starved.deliver_row(row))


async def test_a_lapsed_holder_does_not_send_and_the_take_over_sends_once(store: Store) -> None:
    await _answered(store, "hello")
    fenced = _count("kefu_outbox_fenced_total", platform="fake", stage="send")
    taken_over = _count("kefu_outbox_taken_over_total", platform="fake")
    stalled = StallingSender()
    holder = await _starved_holder(store, stalled)
    await asyncio.sleep(0.4)  # its lease lapses while it waits to send
    taker = ScriptedAdapter([])
    dispatcher = Dispatcher(store, {"fake": taker}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 1)
    stalled.go.set()  # the starved holder gets to its send at last
    assert await holder is False
    assert stalled.sent == [] and taker.sent == ["hello"]  # the customer got it once
    assert _count("kefu_outbox_fenced_total", platform="fake", stage="send") == fenced + 1
    assert _count("kefu_outbox_taken_over_total", platform="fake") == taken_over + 1


async def test_a_lapsed_holder_that_sent_has_its_delivered_mark_refused_and_counted(
    store: Store,
) -> None:
    """A platform call already under way when the lease lapsed cannot be stopped: the copy
    goes out, but the stale holder's record does not overwrite the new holder's."""
    await _answered(store, "hello")
    refused = _count("kefu_outbox_fenced_total", platform="fake", stage="record")
    stalled = StallingSender(checks=False)
    holder = await _starved_holder(store, stalled)
    await asyncio.sleep(0.4)
    taker = ScriptedAdapter([])
    dispatcher = Dispatcher(store, {"fake": taker}, poll_interval_s=0.02)
    await _run_until(dispatcher, store, lambda c: c.get("outbox.delivered") == 1)
    stalled.go.set()
    assert await holder is False
    assert _count("kefu_outbox_fenced_total", platform="fake", stage="record") == refused + 1
    (row,) = await store.delivered_outbox()
    assert row["platform_message_ids"] == ["p1"]  # the take-over's record stands


@pytest.mark.parametrize("queue", [OutboxQueue, FlakyRenewals])
async def test_renewals_keep_a_slow_send_held(store: Store, queue: type[OutboxQueue]) -> None:
    """A send that takes three leases is still held when it checks: nobody took it over,
    also when one renewal failed."""
    await _answered(store, "hello")
    fenced = _count("kefu_outbox_fenced_total", platform="fake", stage="send")
    slow = StallingSender(stall_s=3.2)
    dispatcher = Dispatcher(store, {"fake": slow}, poll_interval_s=0.02, lease_s=1.0)
    dispatcher.queue = queue(store, 1.0)
    rival = OutboxQueue(store, lease_s=1.0)
    await dispatcher.start()
    stolen: list[OutboxRow] = []
    try:
        async with asyncio.timeout(10):
            await slow.started.wait()  # the dispatcher holds the row
            while (await store.counts()).get("outbox.delivered") != 1:
                stolen += await rival.claim(1)  # another replica, polling
                await asyncio.sleep(0.02)
    finally:
        await dispatcher.stop()
        await rival.close()
    assert stolen == [] and slow.sent == ["hello"]
    assert _count("kefu_outbox_fenced_total", platform="fake", stage="send") == fenced


async def test_a_row_that_came_back_to_its_own_dispatcher_is_delivered_when_the_lane_ends(
    store: Store,
) -> None:
    """The lane's lease lapses and this dispatcher claims the row again (a new token): the
    old lane is fenced off, and the new claim is delivered right after it, not left to
    lapse and be claimed a third time."""
    await _answered(store, "hello")
    stalled = StallingSender()
    dispatcher = Dispatcher(store, {"fake": stalled}, poll_interval_s=0.02, lease_s=1.0)
    dispatcher.queue = StuckRenewals(store, 1.0)
    await dispatcher.start()
    try:
        await asyncio.sleep(1.2)  # lapsed after 1 s and claimed again by the claim loop
        stalled.go.set()
        async with asyncio.timeout(10):
            while (await store.counts()).get("outbox.delivered") != 1:
                await asyncio.sleep(0.02)
    finally:
        await dispatcher.stop()
    (row,) = await store.delivered_outbox()
    assert stalled.sent == ["hello"] and row["lease_token"] == 2  # two claims, not three
