"""What the worker does besides answering: rate limits, an engine that is down, poison."""

from __future__ import annotations

import asyncio
import io

from sqlalchemy import select

from adapters.terminal.adapter import TerminalAdapter
from core.answering.answer import AnswerSettings
from core.engines.stub import StubEngine
from core.errors import EngineError
from core.model.decision import ConversationState, DecisionKind
from core.model.turn import ConversationKey
from core.runtime.limits import Limits, MemoryLimiter, Rate
from core.store.schema import decisions, inbox
from core.store.store import Store
from core.texts import text
from tests.conftest import make_turn
from tests.harness import KefuHarness


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _terminal(context):  # type: ignore[no-untyped-def]
    return TerminalAdapter(context, out=io.StringIO())


def _texts(rows, chat: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["payload"]["text"] for r in rows if r["payload"]["key"] == f"terminal|{chat}|"]


async def _kinds(store: Store) -> list[str]:
    query = select(decisions.c.kind).order_by(decisions.c.id)
    return list(await store.db.read(lambda conn: conn.execute(query).scalars().all()))


async def test_a_flooding_customer_is_told_once_and_answered_together(store_url: str) -> None:
    store = await Store.open(store_url)
    for i in range(20):  # 20 messages at once, stored (and acknowledged) before any answer
        await store.put(make_turn(f"flood-{i}", chat="flood", platform="terminal"))
    for chat in ("a", "b"):
        await store.put(make_turn(f"{chat}-0", chat=chat, platform="terminal"))
    await store.close()
    clock = Clock()  # the bucket refills only when the test says so, however slow the machine
    limiter = MemoryLimiter(Limits(Rate(60, 3), Rate(6000, 100)), clock)
    async with KefuHarness(
        adapters={"terminal": _terminal}, store_url=store_url, limiter=limiter
    ) as kefu:
        assert kefu.store is not None
        async with asyncio.timeout(30):
            while (await _kinds(kefu.store)).count(DecisionKind.RATE_LIMITED) < 16:
                await asyncio.sleep(0.05)
        clock.now += 60  # flood-19 waits for a token meanwhile; now there is one
        await kefu.wait_until_idle(30)
        rows = await kefu.store.delivered_outbox()
        counts = await kefu.store.counts()
        kinds = await _kinds(kefu.store)
    flood = _texts(rows, "flood")
    assert flood[:3] == ["Echo: flood-0", "Echo: flood-1", "Echo: flood-2"]  # the burst
    assert flood.count(text("rate_limited")) == 1  # one polite notice
    answer = flood[-1]  # one answer for the 17 held back, in order, none lost
    assert [line.removeprefix("Echo: ") for line in answer.splitlines()] == [
        f"flood-{i}" for i in range(3, 20)
    ]
    assert len(flood) == 5
    assert _texts(rows, "a") == ["Echo: a-0"] and _texts(rows, "b") == ["Echo: b-0"]
    assert counts["inbox.done"] == 22  # every message stored and finished
    assert kinds.count(DecisionKind.RATE_LIMITED) == 16


async def test_an_engine_that_is_down_tells_the_customer_once_and_answers_on_recovery(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    engine = StubEngine(fail_with=EngineError("connection refused"))
    async with KefuHarness(
        engine=engine, adapters={"terminal": _terminal}, engine_retry_s=0.1,
        answer=AnswerSettings(hold_on_engine_error=True),
    ) as kefu:  # fmt: skip
        assert kefu.store is not None
        await kefu.store.put(make_turn("first", chat="x", platform="terminal"))
        await kefu.store.put(make_turn("second", chat="x", platform="terminal"))
        async with asyncio.timeout(20):
            while len(engine.requests) < 4:  # tried again and again meanwhile
                await asyncio.sleep(0.05)
        engine.fail_with = None  # the engine is back
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
    assert _texts(rows, "x") == [text("engine_delayed"), "Echo: first", "Echo: second"]


async def test_an_engine_down_too_long_hands_off_and_without_a_desk_gives_the_contact(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    engine = StubEngine(fail_with=EngineError("timed out"))
    async with KefuHarness(
        engine=engine, adapters={"terminal": _terminal}, engine_retry_s=0.1,
        engine_handoff_after_s=0.5, answer=AnswerSettings(hold_on_engine_error=True),
    ) as kefu:  # fmt: skip
        assert kefu.store is not None
        await kefu.store.put(make_turn("help", chat="x", platform="terminal"))
        await kefu.wait_until_idle(20)
        rows = await kefu.store.delivered_outbox()
        conversation = await kefu.store.conversation(ConversationKey("terminal", "x"))
    # No staff desk in this kefu: the customer is told how to reach the shop, and the
    # conversation stays with the bot (it answers once the engine is back).
    unavailable = text("handoff_unavailable_no_contact")
    assert _texts(rows, "x") == [text("engine_delayed"), unavailable]
    assert conversation.state is ConversationState.BOT


class PoisonEngine(StubEngine):
    """Crashes (not an engine error: a bug) on one message, answers the rest."""

    async def generate(self, request):  # type: ignore[no-untyped-def,override]
        if "poison" in request.messages[-1].content_text:
            raise RuntimeError("unexpected shape in the tokenizer")
        async for chunk in super().generate(request):
            yield chunk


async def test_a_poison_message_is_dead_lettered_and_its_chat_keeps_working(
    store_url: str,
) -> None:
    async with KefuHarness(
        engine=PoisonEngine(), adapters={"terminal": _terminal}, store_url=store_url,
        max_attempts=3, retry_base_s=0.05,
    ) as kefu:  # fmt: skip
        assert kefu.store is not None
        for body in ("before", "poison pill", "after"):
            await kefu.store.put(make_turn(body, chat="x", platform="terminal"))
        await kefu.wait_until_idle(30)
        rows = await kefu.store.delivered_outbox()
        query = select(inbox.c.status, inbox.c.attempts, inbox.c.error).order_by(inbox.c.id)
        states = await kefu.store.db.read(lambda conn: conn.execute(query).all())
    assert _texts(rows, "x") == ["Echo: before", text("message_failed"), "Echo: after"]
    assert [(s.status, s.attempts) for s in states] == [("done", 1), ("failed", 3), ("done", 1)]
    assert "unexpected shape" in states[1].error
