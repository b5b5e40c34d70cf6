"""The inbox worker: claims turns, answers them, and commits each answer atomically.

Several turns are answered concurrently (so the engine can batch them) but never two of
the same conversation: the inbox claim only hands out a conversation's oldest open turn
(also across processes and replicas: the claim is an ``UPDATE`` with a lease).

What a claimed turn may become besides an answer:

* **over the rate limit** (:mod:`core.runtime.limits`): joined into the customer's next
  waiting message, or held until the bucket refills; either way it is answered together
  with the others, and the customer is told once;
* **engine down or timing out**: held and retried every ``engine_retry_s`` (the customer is
  told once), answered when the engine is back, or handed to staff once it has been held
  for ``engine_handoff_after_s``;
* **poison** (answering it raised an unexpected error, or killed the process, on every one
  of ``max_attempts`` attempts): dead-lettered (``inbox.status = failed``, listed and
  replayed by ``main.py deadletters``), the customer gets an apology, and the
  conversation's next turns are answered as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from prometheus_client import Counter, Histogram

from core.answering.answer import Answerer
from core.errors import EngineError, KefuError, StoreError
from core.model.decision import Completion, ConversationState, Decision, DecisionKind
from core.model.turn import Reply, ReplyKind, Role, Turn
from core.runtime.limits import Admission, RateLimiter
from core.store.db import utcnow
from core.store.queue import Claim, InboxQueue, LeaseLost
from core.store.store import Store
from core.texts import detect_language, text

log = logging.getLogger(__name__)

TURNS_ANSWERED = Counter("kefu_turns_answered_total", "Turns answered", ["kind"])
TURNS_HELD = Counter("kefu_turns_held_total", "Turns given back to wait", ["reason"])
ANSWER_SECONDS = Histogram("kefu_answer_seconds", "Time to answer a turn")
MAX_ATTEMPTS = 3
MAX_RETRY_DELAY_S = 30.0


class Worker:
    """Runs the answer loop until stopped.

    Args:
        store: The durable store.
        answerer: Produces completions.
        concurrency: Most turns answered at once (feed for the engine's batcher).
        lease_s: Claim lease; a crashed worker's turns are retried after it expires.
        poll_interval_s: Idle poll period (new turns in this process wake it at once).
        on_completed: Called after each commit (wake the outbox dispatcher, the handoff
            service).
        linger_s: Pause after a wake-up before claiming, so that turns arriving together
            are claimed in one go.
        ingest_first_above: While more turns than this wait to be stored (requests waiting
            for their acknowledgement), claims wait, up to ``max_defer_s`` each time: in a
            burst the platforms get their acks first, and the answers follow right after.
        max_defer_s: Longest a claim waits for the ingest; answers are never starved.
        limiter: Per-customer and per-platform rate limits; None answers everything.
        max_attempts: Attempts before a turn that keeps failing is dead-lettered.
        engine_retry_s: How long a turn waits while the engine is down.
        engine_handoff_after_s: After this long with the engine down, hand over to staff.
        retry_base_s: First wait before a turn whose answering failed unexpectedly is
            tried again (doubling each attempt, at most 30 s).
    """

    def __init__(
        self,
        store: Store,
        answerer: Answerer,
        *,
        concurrency: int = 16,
        lease_s: float = 60.0,
        poll_interval_s: float = 0.5,
        on_completed: Sequence[Callable[[], None]] = (),
        linger_s: float = 0.02,
        ingest_first_above: int = 32,
        max_defer_s: float = 0.1,
        limiter: RateLimiter | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        engine_retry_s: float = 5.0,
        engine_handoff_after_s: float = 300.0,
        retry_base_s: float = 1.0,
    ) -> None:
        self.store = store
        self.answerer = answerer
        self.queue = InboxQueue(
            store,
            f"worker-{uuid.uuid4().hex[:12]}",
            lease_s,
            history_rounds=answerer.settings.history_rounds,
        )
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self.on_completed = tuple(on_completed)
        self.linger_s = linger_s
        self.ingest_first_above = ingest_first_above
        self.max_defer_s = max_defer_s
        self.limiter = limiter
        self.max_attempts = max_attempts
        self.engine_retry_s = engine_retry_s
        self.engine_handoff_after_s = engine_handoff_after_s
        self.retry_base_s = retry_base_s
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[int] = set()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False
        store.on_new_turn(self.wake)

    def wake(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> bool:
        """Answers are being written right now."""
        return bool(self._tasks)

    async def start(self) -> None:
        """Claim and answer turns until :meth:`stop`."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="kefu-worker")

    async def _run(self) -> None:
        backlog = False  # the last claim filled every free slot: more turns are waiting
        while not self._stopping:
            free = self.concurrency - len(self._tasks)
            # Cleared before the claim: a wake-up that arrives during it is not lost.
            self._wake.clear()
            if free > 0:
                await self._defer_to_ingest()
                claims = await self._claim(free)
                self._start(claims)
                backlog = len(claims) == free
                if backlog:
                    continue  # there may be more waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            if self.linger_s and not backlog and not self._stopping:
                # Let the turns arriving together be claimed together: one claim for many
                # costs far less than one each, and a few ms are nothing next to a model.
                # With a backlog there is nothing to wait for: free slots are filled at once.
                await asyncio.sleep(self.linger_s)

    async def _defer_to_ingest(self) -> None:
        # One process shares one core between acknowledging and answering; an ack has a
        # platform's deadline behind it (Slack: 3 s), an answer only a person reading.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_defer_s
        while self.store.inbound_waiting() > self.ingest_first_above and loop.time() < deadline:
            await asyncio.sleep(0.005)

    def _start(self, claims: list[Claim]) -> None:
        for claim in claims:
            if claim.inbox_id in self._in_flight:
                continue  # our own lease lapsed and came back to us: it is being answered
            self._in_flight.add(claim.inbox_id)
            task = asyncio.create_task(self._process(claim))
            self._tasks.add(task)
            task.add_done_callback(partial(self._task_done, claim.inbox_id))

    async def _claim(self, free: int) -> list[Claim]:
        try:
            return await self.queue.claim(free)
        except StoreError as exc:
            # The database is busy or away: the turns wait in the inbox; try again later.
            log.warning("claiming inbox work failed, retrying: %s", exc)
            return []

    def _task_done(self, inbox_id: int, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight.discard(inbox_id)
        self._wake.set()  # a slot is free and the conversation may have a next turn

    async def stop(self) -> None:
        """Stop claiming, let in-flight answers commit, and finish the submitted writes."""
        self._stopping = True
        self._wake.set()
        loop, self._loop = self._loop, None
        if loop is not None:
            # A claim under way when stop() was called still starts its answers: wait for
            # the loop to end first, so that those are waited for too.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(loop), self.lease_s)
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.queue.close()

    async def _process(self, claim: Claim) -> None:
        keeper = asyncio.create_task(self._keep_lease(claim))
        try:
            with ANSWER_SECONDS.time():
                await self._handle(claim)
        except LeaseLost as exc:
            log.warning("%s", exc)
        except Exception as exc:
            log.exception(
                "answering inbox item %s failed (attempt %s of %s)",
                claim.inbox_id, claim.attempts, self.max_attempts,
            )  # fmt: skip
            await self._retry_or_dead_letter(claim, exc)
        finally:
            keeper.cancel()
        for callback in self.on_completed:
            callback()

    async def _handle(self, claim: Claim) -> None:
        turn = claim.turn
        if claim.attempts > self.max_attempts:  # it took the process down every time
            await self._dead_letter(claim, f"gave up after {claim.attempts - 1} attempts")
            return
        if self._limited(claim):
            assert self.limiter is not None
            customer = f"{turn.key.channel}:{turn.sender.user_id}"
            admission = await self.limiter.admit(customer, turn.key.platform)
            if not admission.allowed:
                await self._hold_for_limit(claim, admission)
                return
        asked = _with_joined(claim)
        try:
            completion = await self.answerer.answer(
                asked, claim.turn_id, claim.conversation, claim.history
            )
        except EngineError as exc:
            if not self.answerer.settings.hold_on_engine_error:
                completion = self._fallback(turn, f"{exc.code}: {exc}")
            else:
                await self._hold_for_engine(claim, exc)
                return
        except KefuError as exc:
            completion = self._fallback(turn, f"{exc.code}: {exc}")
        await self.queue.complete(claim, turn.key, completion)
        TURNS_ANSWERED.labels(completion.decision.kind).inc()

    def _limited(self, claim: Claim) -> bool:
        # Commands (/human, buttons) and conversations with staff are never held back.
        turn = claim.turn
        return (
            self.limiter is not None
            and turn.sender.role is Role.CUSTOMER
            and turn.command is None
            and claim.conversation.state is ConversationState.BOT
        )

    async def _hold_for_limit(self, claim: Claim, admission: Admission) -> None:
        turn = claim.turn
        told: tuple[Reply, ...] = ()
        if admission.notify:
            body = text("rate_limited", detect_language(turn.text))
            told = (Reply(turn.key, body, ReplyKind.NOTICE, reply_to=turn.message_id),)
        reasons = ("over the customer's rate limit", *(("customer told",) if told else ()))
        if admission.by_customer:
            joined = Completion(
                told,
                Decision(DecisionKind.RATE_LIMITED, reasons=(*reasons, "answered with the next")),
            )
            if await self.queue.coalesce(claim, joined):
                TURNS_HELD.labels("rate_limit_joined").inc()
                return
        notice = Completion(told, Decision(DecisionKind.RATE_LIMITED, reasons=reasons))
        await self.queue.hold(claim, admission.retry_after_s, notice if told else None)
        TURNS_HELD.labels("rate_limit").inc()

    async def _hold_for_engine(self, claim: Claim, exc: EngineError) -> None:
        turn = claim.turn
        waited = (utcnow() - claim.held_since).total_seconds() if claim.held_since else 0.0
        if waited >= self.engine_handoff_after_s:
            reason = f"engine unavailable for {waited:.0f} s ({exc.code})"
            completion = self.answerer.engine_handoff(turn, claim.conversation, reason)
            await self.queue.complete(claim, turn.key, completion)
            TURNS_ANSWERED.labels(completion.decision.kind).inc()
            return
        notice = None
        if claim.held_since is None:  # the customer hears about it once, not every retry
            body = text("engine_delayed", detect_language(turn.text))
            reply = Reply(turn.key, body, ReplyKind.NOTICE, reply_to=turn.message_id)
            reasons = (f"engine unavailable, answer held: {exc.code}: {exc}",)
            notice = Completion((reply,), Decision(DecisionKind.HELD, reasons=reasons))
        await self.queue.hold(claim, self.engine_retry_s, notice, engine_down=True)
        TURNS_HELD.labels("engine").inc()

    async def _retry_or_dead_letter(self, claim: Claim, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        try:
            if claim.attempts >= self.max_attempts:
                await self._dead_letter(claim, error)
            else:
                delay = min(MAX_RETRY_DELAY_S, self.retry_base_s * 2.0 ** (claim.attempts - 1))
                await self.queue.hold(claim, delay, counted=True)
        except StoreError as store_error:
            # Its lease lapses and the turn is claimed again: still nothing is lost.
            log.warning("inbox item %s: retry not recorded: %s", claim.inbox_id, store_error)

    async def _dead_letter(self, claim: Claim, error: str) -> None:
        turn = claim.turn
        body = text("message_failed", detect_language(turn.text))
        reply = Reply(turn.key, body, ReplyKind.ERROR, reply_to=turn.message_id)
        decision = Decision(DecisionKind.DEAD_LETTER, reasons=(error[:500],))
        await self.queue.dead_letter(claim, error, Completion((reply,), decision, failure_delta=1))
        TURNS_ANSWERED.labels(DecisionKind.DEAD_LETTER).inc()
        log.error("inbox item %s dead-lettered: %s", claim.inbox_id, error)

    def _fallback(self, turn: Turn, reason: str) -> Completion:
        language = detect_language(turn.text)
        reply = Reply(
            turn.key, text("internal_error", language), ReplyKind.ERROR, reply_to=turn.message_id
        )
        return Completion(
            (reply,), Decision(DecisionKind.ERROR, reasons=(reason,)), failure_delta=1
        )

    async def _keep_lease(self, claim: Claim) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not await self.queue.renew(claim):
                return


def _with_joined(claim: Claim) -> Turn:
    """The turn with the earlier messages answered together with it, in order."""
    if not claim.joined:
        return claim.turn
    parts = tuple(part for turn in (*claim.joined, claim.turn) for part in turn.parts)
    return replace(claim.turn, parts=parts)
