"""The worker answers every inbox turn once, in order per conversation, through the runtime."""

from __future__ import annotations

import asyncio
import io
import itertools

from adapters.terminal.adapter import TerminalAdapter
from core.engines.stub import StubEngine
from core.errors import EngineError, StoreError
from core.model.turn import Command, ConversationKey
from core.runtime.worker import Worker
from core.store.queue import InboxQueue
from tests.conftest import make_turn
from tests.harness import KefuHarness


def _terminal(out: io.StringIO, holder: dict[str, TerminalAdapter]):  # type: ignore[no-untyped-def]
    def make(context):  # type: ignore[no-untyped-def]
        holder["t"] = TerminalAdapter(context, out=out)
        return holder["t"]

    return make


async def test_every_turn_is_answered_once_in_conversation_order(store_url: str) -> None:
    out, holder = io.StringIO(), {}
    engine = StubEngine(token_delay_s=0.001)
    async with KefuHarness(
        engine=engine, adapters={"terminal": _terminal(out, holder)}, store_url=store_url
    ) as kefu:
        assert kefu.store is not None
        for chat in ("a", "b", "c"):
            for index in range(4):
                await kefu.store.put(make_turn(f"{chat}-{index}", chat=chat, platform="terminal"))
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
    assert len(rows) == 12
    for chat in ("a", "b", "c"):
        texts = [r["payload"]["text"] for r in rows if r["payload"]["key"] == f"terminal|{chat}|"]
        assert texts == [f"Echo: {chat}-{i}" for i in range(4)]


async def test_one_answer_in_flight_per_conversation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    class Tracking(StubEngine):
        async def generate(self, request):  # type: ignore[no-untyped-def,override]
            chat = request.messages[-1].content_text.split("-")[0]
            active[chat] = active.get(chat, 0) + 1
            peak[chat] = max(peak.get(chat, 0), active[chat])
            try:
                await asyncio.sleep(0.02)
                async for chunk in super().generate(request):
                    yield chunk
            finally:  # the draft writer may close the stream once it has the final chunk
                active[chat] -= 1

    out, holder = io.StringIO(), {}
    async with KefuHarness(
        engine=Tracking(), adapters={"terminal": _terminal(out, holder)}
    ) as kefu:
        assert kefu.store is not None
        await asyncio.gather(
            *(kefu.store.put(make_turn(f"x-{i}", chat="x", platform="terminal")) for i in range(5))
        )
        await asyncio.gather(
            *(kefu.store.put(make_turn(f"y-{i}", chat="y", platform="terminal")) for i in range(5))
        )
        await kefu.wait_until_idle(20)
    assert peak == {"x": 1, "y": 1}


async def test_engine_failure_gives_a_fallback_reply_and_keeps_the_turn(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, holder = io.StringIO(), {}
    engine = StubEngine(fail_with=EngineError("model crashed"))
    async with KefuHarness(engine=engine, adapters={"terminal": _terminal(out, holder)}) as kefu:
        assert kefu.store is not None
        await kefu.store.put(make_turn("你好", chat="z", platform="terminal"))
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
        counts = await kefu.store.counts()
    assert rows[0]["payload"]["kind"] == "error"
    assert "工作人员" in rows[0]["payload"]["text"]  # Chinese fallback for a Chinese customer
    assert counts["turns"] == 1 and counts["inbox.done"] == 1


async def test_turn_past_max_attempts_is_not_retried_forever(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, holder = io.StringIO(), {}
    async with KefuHarness(adapters={"terminal": _terminal(out, holder)}) as kefu:
        assert kefu.store is not None
        await kefu.runtime.worker.stop()  # type: ignore[union-attr]
        await kefu.store.put(make_turn("poison", chat="p", platform="terminal"))
        queue = InboxQueue(kefu.store, "crashy", lease_s=0.01)
        for _ in range(3):  # three crashed attempts
            await queue.claim(1)
            await asyncio.sleep(0.02)
        assert kefu.runtime is not None
        worker = Worker(kefu.store, kefu.runtime.answerer, poll_interval_s=0.05,
                        on_completed=(kefu.runtime.dispatcher.wake,))  # fmt: skip
        await worker.start()
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
        await worker.stop()
    assert rows[0]["payload"]["kind"] == "error"


async def test_reset_and_human_commands(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, holder = io.StringIO(), {}
    engine = StubEngine()
    async with KefuHarness(engine=engine, adapters={"terminal": _terminal(out, holder)}) as kefu:
        assert kefu.store is not None
        await kefu.store.put(make_turn("first question", chat="r", platform="terminal"))
        await kefu.wait_until_idle(20)
        await kefu.store.put(make_turn("", chat="r", platform="terminal", command=Command.RESET))
        await kefu.wait_until_idle(20)
        await kefu.store.put(make_turn("second question", chat="r", platform="terminal"))
        await kefu.wait_until_idle(20)
        await kefu.store.put(make_turn("", chat="r", platform="terminal", command=Command.HUMAN))
        await kefu.store.put(make_turn("are you there?", chat="r", platform="terminal"))
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
        conversation = await kefu.store.conversation(ConversationKey("terminal", "r"))
    # after /reset the model no longer sees "first question"
    assert all("first question" not in m.content_text for m in engine.requests[-1].messages)
    kinds = [r["payload"]["kind"] for r in rows]
    # No staff desk in this kefu: /human gets the contact notice and the bot keeps answering
    # (with a desk the bot is quiet while handed off: tests/answering, tests/handoff).
    assert kinds == ["answer", "notice", "answer", "notice", "answer"]
    assert conversation.state == "bot"


async def test_a_failed_claim_is_retried_and_the_worker_keeps_answering(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, holder = io.StringIO(), {}
    async with KefuHarness(adapters={"terminal": _terminal(out, holder)}) as kefu:
        assert kefu.store is not None and kefu.runtime is not None
        queue = kefu.runtime.worker.queue
        real_claim, failures = queue.claim, [StoreError("database is locked")]

        async def flaky_claim(limit: int):  # type: ignore[no-untyped-def]
            if failures:
                raise failures.pop()
            return await real_claim(limit)

        queue.claim = flaky_claim  # type: ignore[method-assign]
        await kefu.store.put(make_turn("still there?", chat="f", platform="terminal"))
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
    assert not failures and [r["payload"]["text"] for r in rows] == ["Echo: still there?"]


async def test_with_a_backlog_freed_slots_are_filled_without_lingering(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, holder = io.StringIO(), {}
    async with KefuHarness(
        adapters={"terminal": _terminal(out, holder)}, worker_concurrency=2
    ) as kefu:
        assert kefu.store is not None and kefu.runtime is not None
        worker = kefu.runtime.worker
        worker.linger_s = 0.5  # far longer than answering a turn with the stub engine
        real_claim, claimed_at = worker.queue.claim, []

        async def timed_claim(limit: int):  # type: ignore[no-untyped-def]
            claims = await real_claim(limit)
            if claims:
                claimed_at.append(asyncio.get_running_loop().time())
            return claims

        worker.queue.claim = timed_claim  # type: ignore[method-assign]
        await asyncio.gather(
            *(
                kefu.store.put(make_turn(f"q{i}", chat=f"c{i}", platform="terminal"))
                for i in range(8)
            )
        )
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
    assert len(rows) == 8 and len(claimed_at) >= 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(claimed_at)]
    assert max(gaps) < 0.4  # a linger between claims would make each gap at least 0.5 s


async def test_claims_wait_for_a_busy_ingest_but_never_starve(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, holder = io.StringIO(), {}
    async with KefuHarness(adapters={"terminal": _terminal(out, holder)}) as kefu:
        assert kefu.store is not None and kefu.runtime is not None
        worker, loop = kefu.runtime.worker, asyncio.get_running_loop()
        worker.ingest_first_above, worker.max_defer_s = 10, 0.3
        waiting = [50]  # requests waiting for their acks, as the store reports them
        kefu.store.inbound_waiting = lambda: waiting[0]  # type: ignore[method-assign]
        real_claim, claimed_at = worker.queue.claim, []

        async def timed_claim(limit: int):  # type: ignore[no-untyped-def]
            claims = await real_claim(limit)
            claimed_at.extend(loop.time() for _ in claims)
            return claims

        worker.queue.claim = timed_claim  # type: ignore[method-assign]
        put_at = loop.time()
        await kefu.store.put(make_turn("busy now?", chat="i1", platform="terminal"))
        await kefu.wait_until_idle(20)
        busy_delay = claimed_at[0] - put_at
        waiting[0] = 3  # below the threshold: claimed without waiting
        put_at = loop.time()
        await kefu.store.put(make_turn("and now?", chat="i2", platform="terminal"))
        await kefu.wait_until_idle(20)
        quiet_delay = claimed_at[1] - put_at
        rows = await kefu.store.delivered_outbox()
    assert len(rows) == 2  # both answered: the busy ingest only delayed the first
    assert busy_delay >= 0.3 and quiet_delay < 0.25
