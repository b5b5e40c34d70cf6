"""End to end on the native Telegram paths: drafts, the stop button, withheld answers, and
business accounts (fake Bot API → real adapter → store, worker, dispatcher → fake Bot API)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from adapters.telegram.adapter import SECRET_HEADER, TelegramAdapter
from core.answering.answer import AnswerSettings
from core.answering.bot import Assessment, HandoffDecision, Prepared, TurnContext
from core.answering.prompt_brain import PromptBrain
from core.engines.base import GenerationRequest
from core.engines.stub import StubEngine
from core.model.decision import HandoffKind
from core.model.turn import Confidence, Role, Turn
from core.ports import AdapterContext
from core.store.schema import decisions
from core.texts import text
from tests.adapters.telegram.conftest import WEBHOOK_SECRET, eventually, webhook_settings
from tests.fakes.telegram_features import DraftState
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import KefuHarness

WITHHELD = "The jacket costs ¥999 and ships tomorrow"  # the assessment withholds this answer


class AbortRecordingEngine(StubEngine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aborted: list[str] = []

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
        await super().abort(request_id)


class GuardedBrain(PromptBrain):
    """Like the shop brain: answers are assessed before they are sent, so no live preview;
    an answer containing "¥999" is withheld and the conversation handed off."""

    async def prepare(self, turn: Turn, context: TurnContext) -> Prepared:
        return replace(await super().prepare(turn, context), stream_preview=False)

    def assess(
        self, turn: Turn, prepared: Prepared, answer: str, logprob_confidence: Confidence
    ) -> Assessment:
        if "¥999" in answer:
            decision = HandoffDecision(("price not in the facts",), HandoffKind.LOW_CONFIDENCE)
            return Assessment(logprob_confidence, decision)
        return Assessment(logprob_confidence)


@dataclass
class Kefu:
    harness: KefuHarness
    tg: FakeTelegramServer
    session: aiohttp.ClientSession
    engine: AbortRecordingEngine

    async def post(self, update: dict[str, Any]) -> int:
        url = f"{self.harness.base_url}/telegram/webhook"
        headers = {SECRET_HEADER: WEBHOOK_SECRET}
        async with self.session.post(url, json=update, headers=headers) as response:
            return response.status

    async def idle(self) -> None:
        await self.harness.wait_until_idle(timeout=20)

    async def decision_kinds(self) -> list[str]:
        assert self.harness.store is not None
        query = select(decisions.c.kind).order_by(decisions.c.id)
        rows = await self.harness.store.db.read(lambda conn: conn.execute(query).all())
        return [r.kind for r in rows]


def answer_with(body: str) -> Callable[[GenerationRequest], str]:
    return lambda _request: body


@asynccontextmanager
async def kefu(
    tg: FakeTelegramServer, engine: AbortRecordingEngine, brain: Any = None, **overrides: Any
) -> AsyncIterator[Kefu]:
    overrides.setdefault("draft_interval_s", 0.1)
    with tempfile.TemporaryDirectory(prefix="kefu-tgn-") as folder:
        overrides.setdefault("album_journal_path", str(Path(folder) / "albums.db"))
        settings = webhook_settings(tg, **overrides)

        def factory(context: AdapterContext) -> TelegramAdapter:
            return TelegramAdapter(context, settings)

        brains = {Role.CUSTOMER: brain, Role.STAFF: brain} if brain is not None else None
        async with (
            KefuHarness(engine=engine, adapters={"telegram": factory}, brains=brains) as harness,
            aiohttp.ClientSession() as session,
        ):
            yield Kefu(harness, tg, session, engine)


def words(count: int) -> Callable[[GenerationRequest], str]:
    return lambda _request: " ".join(f"word{i}" for i in range(count))


async def test_draft_streaming_ends_in_exactly_one_message(tg: FakeTelegramServer) -> None:
    engine = AbortRecordingEngine(words(30), token_delay_s=0.03)
    async with kefu(tg, engine) as k:
        await k.post(tg.updates.text("tell me about the jacket"))
        await k.idle()
        (draft,) = tg.chat_drafts(42)
        assert draft.texts[0] == ""  # the thinking placeholder came first
        assert len(draft.texts) >= 3 and draft.texts[-1].startswith("word0 word1")
        assert all(b.startswith(a) for a, b in itertools.pairwise(draft.texts[1:]))  # grows
        assert draft.can_stop  # a stop button was shown
        (message,) = tg.chat_messages(42)  # exactly one final message
        assert message.text == words(30)(None)  # type: ignore[arg-type]
        assert draft.state is DraftState.FINALIZED and draft.finalized_by == message.message_id
        assert draft.expired_gaps == 0
        assert tg.calls_of("editMessageText") == []  # no edits in private chats
        assert len(tg.calls_of("sendMessage", ok_only=True)) == 1


async def test_a_long_answer_keeps_its_draft_alive_past_the_expiry(
    tg: FakeTelegramServer,
) -> None:
    tg.draft_ttl_s = 0.6  # Telegram: ~30 s; the stream refreshes before it expires
    engine = AbortRecordingEngine(answer_with("slow"), token_delay_s=2.0)
    async with kefu(tg, engine, brain=GuardedBrain(), draft_keepalive_s=0.25) as k:
        await k.post(tg.updates.text("this takes a while"))
        await k.idle()
        (draft,) = tg.chat_drafts(42)
        assert set(draft.texts) == {""}  # only the placeholder: no preview for this brain
        assert len(draft.texts) >= 4  # sent again while the model took 2 s
        assert draft.expired_gaps == 0 and draft.state is DraftState.FINALIZED
        assert tg.chat_texts(42) == ["slow"]


async def test_stop_button_aborts_the_engine_and_nothing_more_is_sent(
    tg: FakeTelegramServer,
) -> None:
    engine = AbortRecordingEngine(words(400), token_delay_s=0.02)
    async with kefu(tg, engine) as k:
        await k.post(tg.updates.text("write me an essay"))
        await eventually(lambda: any(len(d.texts) >= 3 for d in tg.chat_drafts(42)))
        (draft,) = tg.chat_drafts(42)
        assert await k.post(tg.press_stop(42, draft.draft_id)) == 200
        await k.idle()
        (request,) = engine.requests
        assert engine.aborted == [request.request_id]  # the engine's generation was aborted
        assert tg.chat_messages(42) == []  # no final message, no partial answer
        assert draft.calls_after_stop == 0  # and no draft after the stop
        assert (await k.decision_kinds())[-1] == "stopped"


async def test_a_stop_after_the_answer_finished_changes_nothing(tg: FakeTelegramServer) -> None:
    engine = AbortRecordingEngine(words(5))
    async with kefu(tg, engine) as k:
        await k.post(tg.updates.text("quick one"))
        await k.idle()
        stale = tg.updates.next_update_id()
        stopped = {"chat": {"id": 42, "type": "private"}, "draft_id": 12345}
        assert await k.post({"update_id": stale, "stopped_message_generation": stopped}) == 200
        await k.idle()
        assert engine.aborted == []
        assert tg.chat_texts(42) == [words(5)(None)]  # type: ignore[arg-type]
        # Not written here: the stop went to the inbox (for a worker process), answered with
        # nothing.
        assert (await k.decision_kinds())[-1] == "ignored"


async def test_a_withheld_answer_is_never_shown_as_a_draft(tg: FakeTelegramServer) -> None:
    engine = AbortRecordingEngine(answer_with(WITHHELD), token_delay_s=0.05)
    async with kefu(tg, engine, brain=GuardedBrain()) as k:
        await k.post(tg.updates.text("how much is the jacket?"))
        await k.idle()
        (draft,) = tg.chat_drafts(42)
        assert set(draft.texts) == {""}  # only ever the thinking placeholder
        shown = [c.params.get("text", "") for c in tg.calls_of("sendMessageDraft")]
        assert not any("999" in t for t in shown)
        sent = tg.chat_texts(42)
        # The notice only (no staff desk here: the customer is told how to reach the shop).
        assert sent == [text("handoff_unavailable_no_contact", "en")]
        assert all("999" not in t for t in sent)
        assert "handoff" in await k.decision_kinds()


async def test_groups_keep_paced_edits(tg: FakeTelegramServer) -> None:
    engine = AbortRecordingEngine(words(20), token_delay_s=0.03)
    async with kefu(tg, engine) as k:
        await k.post(tg.updates.group_text("what's new?", mention=True))
        await k.idle()
        assert tg.calls_of("sendMessageDraft") == []
        assert tg.chat_texts(-100123) == [words(20)(None)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "description"),
    [(404, "Not Found"), (400, "Bad Request: method not found")],  # 404: an older Bot API server
)
async def test_drafts_refused_fall_back_to_edits(
    tg: FakeTelegramServer, status: int, description: str
) -> None:
    tg.fail_with("sendMessageDraft", status, description, count=99)
    engine = AbortRecordingEngine(words(20), token_delay_s=0.03)
    async with kefu(tg, engine) as k:
        await k.post(tg.updates.text("first"))
        await k.idle()
        await k.post(tg.updates.text("second"))
        await k.idle()
        assert len(tg.calls_of("sendMessageDraft")) == 1  # refused once, never tried again
        assert tg.calls_of("editMessageText")  # the second answer streamed by edits
        assert tg.chat_texts(42) == [words(20)(None)] * 2  # type: ignore[arg-type]


OWNER = {"id": 9001, "is_bot": False, "first_name": "Mei", "last_name": "Shop"}
CONNECTION = "bc-shop-1"


async def test_business_message_is_answered_and_the_owner_reply_makes_kefu_quiet(
    tg: FakeTelegramServer,
) -> None:
    engine = AbortRecordingEngine(token_delay_s=0.01)
    async with kefu(tg, engine) as k:
        assert await k.post(tg.connect_business(CONNECTION, OWNER)) == 200
        await k.post(tg.updates.business_message("do you ship to Hangzhou?", CONNECTION))
        await k.idle()
        (answer,) = tg.chat_messages(42)
        assert answer.text == "Echo: do you ship to Hangzhou?"
        assert answer.business_connection_id == CONNECTION  # sent as the owner's account
        assert answer.reply_markup is None  # no "talk to a person": the owner is the person
        assert tg.calls_of("sendMessageDraft") == []  # no drafts on behalf of a business
        # Telegram echoes kefu's own message (sent by a bot for the owner): ignored.
        echo = tg.updates.business_message(answer.text, CONNECTION, user=OWNER,
                                           sender_business_bot=tg.bot_user)  # fmt: skip
        await k.post(echo)
        await k.post(tg.updates.business_message("Hi, Mei here, yes we do!", CONNECTION,
                                                 user=OWNER))  # fmt: skip
        await k.idle()
        await k.post(tg.updates.business_message("great, and to Suzhou?", CONNECTION))
        await k.idle()
        assert len(tg.chat_messages(42)) == 1  # quiet after the owner replied
        assert len(engine.requests) == 1
        kinds = await k.decision_kinds()
        assert kinds[-2:] == ["take", "relay"]


async def test_business_owner_quiet_long_enough_hands_the_chat_back(
    tg: FakeTelegramServer,
) -> None:
    engine = AbortRecordingEngine()
    with tempfile.TemporaryDirectory(prefix="kefu-tgb-") as folder:
        settings = webhook_settings(tg, album_journal_path=str(Path(folder) / "a.db"))
        tg.connect_business(CONNECTION, OWNER)  # connected before kefu started: looked up
        async with (
            KefuHarness(
                engine=engine,
                adapters={"telegram": lambda c: TelegramAdapter(c, settings)},
                answer=AnswerSettings(owner_quiet_minutes=0.5 / 60),
            ) as harness,
            aiohttp.ClientSession() as session,
        ):
            k = Kefu(harness, tg, session, engine)
            await k.post(tg.updates.business_message("I'm the owner", CONNECTION, user=OWNER))
            await k.idle()
            await k.post(tg.updates.business_message("hello?", CONNECTION))
            await k.idle()
            assert tg.chat_messages(42) == []  # the owner holds the chat
            await asyncio.sleep(0.6)  # longer than the owner's quiet period
            await k.post(tg.updates.business_message("anyone there?", CONNECTION))
            await k.idle()
            assert tg.chat_texts(42) == ["Echo: anyone there?"]
            assert [c.params["business_connection_id"]
                    for c in tg.calls_of("getBusinessConnection")] == [CONNECTION]  # fmt: skip


async def test_business_without_reply_rights_is_not_answered(tg: FakeTelegramServer) -> None:
    engine = AbortRecordingEngine()
    async with kefu(tg, engine) as k:
        await k.post(tg.connect_business(CONNECTION, OWNER, can_reply=False))
        await k.post(tg.updates.business_message("hello?", CONNECTION))
        await k.idle()
        assert engine.requests == [] and tg.chat_messages(42) == []


async def test_business_answers_are_off_when_configured(tg: FakeTelegramServer) -> None:
    engine = AbortRecordingEngine()
    async with kefu(tg, engine, business=False) as k:
        await k.post(tg.connect_business(CONNECTION, OWNER))
        await k.post(tg.updates.business_message("hello?", CONNECTION))
        await k.idle()
        assert engine.requests == [] and tg.chat_messages(42) == []
