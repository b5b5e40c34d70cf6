"""The inbox worker: claims turns, answers them, and commits each answer atomically.

Several turns are answered concurrently (so the engine can batch them) but never two of
the same conversation: the inbox claim only hands out a conversation's oldest open turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from functools import partial

from prometheus_client import Counter, Histogram

from core.answering.answer import Answerer
from core.errors import KefuError, StoreError
from core.model.decision import Completion, Decision, DecisionKind
from core.model.turn import Reply, ReplyKind
from core.store.queue import Claim, InboxQueue, LeaseLost
from core.store.store import Store
from core.texts import detect_language, text

log = logging.getLogger(__name__)

TURNS_ANSWERED = Counter("kefu_turns_answered_total", "Turns answered", ["kind"])
ANSWER_SECONDS = Histogram("kefu_answer_seconds", "Time to answer a turn")
MAX_ATTEMPTS = 3


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
                await self._answer_and_commit(claim)
        except LeaseLost as exc:
            log.warning("%s", exc)
        except Exception:
            log.exception("answering inbox item %s failed", claim.inbox_id)
            raise
        finally:
            keeper.cancel()
        for callback in self.on_completed:
            callback()

    async def _answer_and_commit(self, claim: Claim) -> None:
        turn = claim.turn
        if claim.attempts > MAX_ATTEMPTS:
            completion = self._fallback(
                turn.key, turn.text, turn.message_id, f"gave up after {claim.attempts - 1} attempts"
            )
        else:
            try:
                completion = await self.answerer.answer(
                    turn, claim.turn_id, claim.conversation, claim.history
                )
            except KefuError as exc:
                completion = self._fallback(
                    turn.key, turn.text, turn.message_id, f"{exc.code}: {exc}"
                )
        await self.queue.complete(claim, turn.key, completion)
        TURNS_ANSWERED.labels(completion.decision.kind).inc()

    def _fallback(self, key, turn_text: str, message_id: str, reason: str) -> Completion:  # type: ignore[no-untyped-def]
        language = detect_language(turn_text)
        reply = Reply(key, text("internal_error", language), ReplyKind.ERROR, reply_to=message_id)
        return Completion(
            (reply,), Decision(DecisionKind.ERROR, reasons=(reason,)), failure_delta=1
        )

    async def _keep_lease(self, claim: Claim) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if not await self.queue.renew(claim):
                return
