"""The Answerer's paths on a real store: commands, bot answers, handoff, relay, staff threads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.answering.answer import Answerer, AnswerSettings
from core.answering.interrupts import Interrupts
from core.answering.prompt_brain import PromptBrain
from core.engines.stub import StubEngine
from core.errors import EngineError
from core.handoff.relay import DRAFT_REASON
from core.media.images import ImageLimits, normalise_image
from core.model.decision import DecisionKind
from core.model.handoff import return_to_bot
from core.model.turn import (
    Command,
    ContentProblem,
    ConversationKey,
    HistoryItem,
    ReplyKind,
    Role,
    Sender,
    TextPart,
    Turn,
    parse_command_token,
)
from core.ports import StreamRequest
from core.store.handoffs import HandoffRecords
from core.store.store import Store
from core.texts import text
from tests.conftest import make_turn, png_bytes
from tests.handoff.helpers import PolicyBrain, ThreadDesk, answer_next

THREAD = ConversationKey("slack", "CSTAFF", "1700000001.000100")
STAFF_REF = "CSTAFF|1700000001.000100"


@dataclass
class FakeStream:
    ref: str | None = "draft-1"
    updates: list[str] = field(default_factory=list)
    closed: bool = False

    async def update(self, text_so_far: str) -> None:
        self.updates.append(text_so_far)

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeOpener:
    streams: list[FakeStream] = field(default_factory=list)
    requests: list[StreamRequest] = field(default_factory=list)

    async def open_reply_stream(self, request: StreamRequest) -> FakeStream:
        self.requests.append(request)
        self.streams.append(FakeStream())
        return self.streams[-1]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    yield opened
    await opened.close()


def answerer(
    store: Store,
    engine: StubEngine | None = None,
    desk: bool = True,
    opener: FakeOpener | None = None,
) -> Answerer:
    brain = PolicyBrain()
    return Answerer(
        store,
        engine or StubEngine(),
        {Role.CUSTOMER: brain, Role.STAFF: PromptBrain()},
        {"telegram": opener} if opener else {},
        AnswerSettings(handoff_wait_minutes=7),
        [ThreadDesk()] if desk else [],
    )


def tg(text_: str, command: Command | None = None, chat: str = "42", **kw: object) -> Turn:
    return make_turn(text_, chat=chat, platform="telegram", command=command, **kw)  # type: ignore[arg-type]


def staff(text_: str, command: str | None = None, key: ConversationKey = THREAD) -> Turn:
    """A staff turn; ``command`` is what Slack sends for a click (``action:<id>:<token>``)."""
    token = command.split(":", 2)[-1] if command else ""
    parsed = (parse_command_token(token) or (Command.UNKNOWN, token)) if command else None
    return Turn(
        key,
        Sender("UALICE", "alice", Role.STAFF),
        f"m-{text_}-{command}",
        (TextPart(text_),),
        command=parsed[0] if parsed else None,
        command_arg=parsed[1] if parsed else "",
    )


async def hand_over(store: Store, a: Answerer, staff_ref: str | None = STAFF_REF) -> int:
    """Hand conversation telegram|42 over (a complaint); returns the handoff id."""
    await answer_next(store, a, tg("我要投诉，收到的鞋子是坏的"))
    records = HandoffRecords(store)
    record = await records.latest((await store.conversation(ConversationKey("telegram", "42"))).id)
    assert record is not None
    if staff_ref:
        await records.set_staff_ref(record.id, staff_ref, "slack")
    return record.id


async def test_start_is_a_direct_greeting_without_the_model(store: Store) -> None:
    engine = StubEngine()
    completion = await answer_next(
        store, answerer(store, engine), tg("/start", command=Command.START)
    )
    [reply] = completion.replies
    assert reply.text == text("greeting", "en") and completion.decision.kind == "direct"
    assert [b.command for b in reply.buttons] == [Command.HUMAN] and engine.requests == []


async def test_reset_clears_the_memory(store: Store) -> None:
    a = answerer(store)
    await answer_next(store, a, tg("what sizes do you have"))
    conversation = await store.conversation(ConversationKey("telegram", "42"))
    assert len(await store.history(conversation.id, 5)) == 2
    completion = await answer_next(store, a, tg("/reset", command=Command.RESET))
    assert completion.replies[0].text == text("reset_done", "en")
    assert await store.history(conversation.id, 5) == []


async def test_unreadable_photo_is_silent_and_unsupported_content_gets_a_notice(
    store: Store,
) -> None:
    a = answerer(store)
    silent = await answer_next(store, a, tg("", problem=ContentProblem.IMAGE_ERROR, chat="a"))
    assert silent.replies == () and silent.decision.reasons == ("unreadable photo",)
    notice = await answer_next(
        store, a, tg("[voice]", problem=ContentProblem.UNSUPPORTED, chat="b")
    )
    assert notice.replies[0].text == text("unsupported_content", "en")


async def test_a_question_is_answered_by_the_model_with_the_person_button(store: Store) -> None:
    engine = StubEngine()
    completion = await answer_next(store, answerer(store, engine), tg("do you ship to Paris"))
    [reply] = completion.replies
    assert reply.text == "Echo: do you ship to Paris" and reply.kind is ReplyKind.ANSWER
    assert reply.buttons[0].command is Command.HUMAN and completion.decision.kind == "answer"
    assert len(engine.requests) == 1 and completion.bot_turns[0].text == reply.text


async def test_human_command_and_button_hand_over(store: Store) -> None:
    a = answerer(store)
    by_command = await answer_next(store, a, tg("/human", command=Command.HUMAN, chat="x"))
    by_button = await answer_next(store, a, tg("转人工", command=Command.HUMAN, chat="y"))
    for completion in (by_command, by_button):
        assert completion.new_state == "handoff" and completion.handoff_reason
        assert completion.decision.reasons[0] == "handoff:explicit"
    assert by_button.replies[0].text == text("handoff_notice", "zh").format(wait=7)
    for chat in ("x", "y"):
        conversation = await store.conversation(ConversationKey("telegram", chat))
        record = await HandoffRecords(store).active(conversation.id)
        assert conversation.state == "handoff" and record is not None and record.status == "open"


async def test_a_complaint_hands_over_before_the_model(store: Store) -> None:
    engine = StubEngine()
    completion = await answer_next(store, answerer(store, engine), tg("我要投诉"))
    assert [r.kind for r in completion.replies] == [ReplyKind.HANDOFF]
    assert completion.decision.reasons[0] == "handoff:complaint" and engine.requests == []


async def test_low_confidence_hands_over_keeping_the_draft_and_the_stream(store: Store) -> None:
    opener = FakeOpener()
    engine = StubEngine(lambda _r: "maybe size 42 fits", logprob=-4.0)
    completion = await answer_next(
        store, answerer(store, engine, opener=opener), tg("does 42 fit me")
    )
    [notice] = completion.replies
    assert notice.kind is ReplyKind.HANDOFF and completion.new_state == "handoff"
    assert completion.decision.reasons[0] == "handoff:low_confidence"
    assert "draft withheld: maybe size 42 fits" in completion.decision.reasons
    assert completion.stream_refs == {0: "draft-1"}  # the preview is edited into the notice
    assert opener.streams[0].closed and opener.streams[0].updates[-1] == "maybe size 42 fits"
    assert completion.bot_turns == ()  # the withheld draft is not remembered as said


async def test_a_streamed_answer_keeps_its_draft_ref(store: Store) -> None:
    opener = FakeOpener()
    completion = await answer_next(store, answerer(store, opener=opener), tg("hello there friend"))
    assert completion.stream_refs == {0: "draft-1"} and completion.decision.kind == "answer"
    assert opener.streams[0].updates == [
        "Echo:",
        "Echo: hello",
        "Echo: hello there",
        "Echo: hello there friend",
    ]
    assert opener.streams[0].closed


async def test_engine_errors_give_the_fallback_and_keep_the_stream_ref(store: Store) -> None:
    opener = FakeOpener()
    engine = StubEngine(fail_with=EngineError("model crashed"))
    completion = await answer_next(
        store, answerer(store, engine, opener=opener), tg("你好，在吗？请问")
    )
    [reply] = completion.replies
    assert reply.kind is ReplyKind.ERROR and reply.text == text("engine_unavailable", "zh")
    assert completion.failure_delta == 1 and completion.stream_refs == {0: "draft-1"}
    assert opener.streams[0].closed


async def test_customer_messages_during_a_handoff_go_to_the_desk(store: Store) -> None:
    engine = StubEngine()
    a = answerer(store, engine)
    await hand_over(store, a)
    photo = normalise_image(png_bytes((30, 20)), ImageLimits())
    completion = await answer_next(store, a, tg("鞋底也裂了", images=(photo,)))
    [relay] = completion.replies
    conversation = await store.conversation(ConversationKey("telegram", "42"))
    assert relay.key == ConversationKey("handoff", str(conversation.id))
    assert (relay.kind, relay.text, relay.images) == (ReplyKind.RELAY, "鞋底也裂了", (photo,))
    assert completion.decision.kind == "relay" and engine.requests == []


async def test_without_a_desk_human_in_an_owner_held_chat_is_still_acknowledged(
    store: Store,
) -> None:
    """The dead ends without a desk are tested in test_fallbacks.py; an owner's chat
    keeps its owner even then."""
    a = answerer(store, desk=False)
    conversation = await store.conversation(ConversationKey("telegram", "42"))
    await HandoffRecords(store).open_taken(conversation.id, "owner", "owner", "Ann", "owner:1")
    again = await answer_next(store, a, tg("/human", command=Command.HUMAN))
    assert again.replies[0].text == text("handoff_already", "en") and again.new_state is None


async def test_a_stale_handoff_state_is_repaired_and_answered(store: Store) -> None:
    engine = StubEngine()
    conversation = await store.conversation(ConversationKey("telegram", "42"))
    await store.set_state(conversation.id, "handoff")  # no handoff row behind it
    completion = await answer_next(store, answerer(store, engine), tg("any news"))
    assert completion.replies[0].text == "Echo: any news" and completion.new_state == "bot"


async def test_a_staff_reply_in_the_thread_is_relayed_and_takes_the_handoff(store: Store) -> None:
    engine = StubEngine()
    a = answerer(store, engine)
    handoff_id = await hand_over(store, a)
    completion = await answer_next(store, a, staff("Sorry! We will send a new pair today."))
    relay, taken = completion.replies
    assert relay.key == ConversationKey("telegram", "42") and relay.kind is ReplyKind.RELAY
    assert relay.text == "Sorry! We will send a new pair today."
    assert (taken.key, taken.text) == (THREAD, "alice took this.")
    record = await HandoffRecords(store).get(handoff_id)
    assert record is not None and (record.status, record.taken_by) == ("taken", "alice")
    conversation = await store.conversation(ConversationKey("telegram", "42"))
    history = await store.history(conversation.id, 5)
    assert history[-1] == HistoryItem(Role.STAFF, "Sorry! We will send a new pair today.")
    assert engine.requests == []  # staff in a handoff thread never get a bot answer
    second = await answer_next(store, a, staff("Tracking number follows."))
    assert [r.kind for r in second.replies] == [ReplyKind.RELAY]  # taken once only
    note = await answer_next(store, a, staff("// refund approved by Bob, do not mention it"))
    assert note.replies == () and note.decision.kind == "note"  # internal notes stay internal


async def test_buttons_take_once_and_return_to_the_bot(store: Store) -> None:
    a = answerer(store)
    handoff_id = await hand_over(store, a)
    take = await answer_next(
        store, a, staff("Take", f"action:kefu_btn_0:handoff:take:{handoff_id}")
    )
    assert [r.text for r in take.replies] == ["alice took this."]
    again = await answer_next(
        store, a, staff("Take", f"action:kefu_btn_0:handoff:take:{handoff_id}x")
    )
    assert again.replies == () and again.decision.kind == "ignored"  # not this handoff's button
    double = await answer_next(
        store,
        a,
        Turn(
            THREAD,
            Sender("UBOB", "bob", Role.STAFF),
            "click-2",
            (TextPart("Take"),),
            command=Command.TAKE,
            command_arg=str(handoff_id),
        ),
    )
    assert double.replies == () and "already taken" in double.decision.reasons[0]
    back = await answer_next(
        store, a, staff("Return", f"action:kefu_btn_2:handoff:return:{handoff_id}")
    )
    thread_note, customer_note = back.replies
    assert thread_note.key == THREAD and "returned this to the bot" in thread_note.text
    assert customer_note.key == ConversationKey("telegram", "42")
    assert customer_note.text == text("handoff_returned", "zh")  # the customer wrote Chinese
    assert (await store.conversation(ConversationKey("telegram", "42"))).state == "bot"
    late = await answer_next(store, a, staff("one more thing"))
    assert [(r.key, r.kind) for r in late.replies] == [(THREAD, ReplyKind.NOTICE)]
    assert "Not sent" in late.replies[0].text


async def test_resolve_tells_the_customer_the_bot_is_back(store: Store) -> None:
    a = answerer(store)
    handoff_id = await hand_over(store, a)
    done = await answer_next(
        store, a, staff("Resolve", f"action:kefu_btn_1:handoff:resolve:{handoff_id}")
    )
    assert done.decision.kind == "resolve" and "resolved this" in done.replies[0].text
    assert done.replies[1].text == text("handoff_returned", "zh")
    record = await HandoffRecords(store).get(handoff_id)
    assert record is not None and record.status == "resolved"


async def test_staff_elsewhere_in_slack_get_the_assistant(store: Store) -> None:
    engine = StubEngine()
    a = answerer(store, engine)
    await hand_over(store, a)
    other = ConversationKey("slack", "D123", "1700000099.000100")
    completion = await answer_next(store, a, staff("stock of SKU-9?", key=other))
    assert completion.replies[0].text == "Echo: stock of SKU-9?" and len(engine.requests) == 1


async def test_a_click_retried_after_a_crash_still_tells_everyone(store: Store) -> None:
    a = answerer(store)
    handoff_id = await hand_over(store, a)
    click = staff("Return", f"action:kefu_btn_2:handoff:return:{handoff_id}")
    records = HandoffRecords(store)
    record = await records.get(handoff_id)
    assert record is not None
    # The first attempt moved the handoff, then the worker died before committing its answer.
    assert await records.apply(record, return_to_bot("alice", (f"click slack:{click.message_id}",)))
    retried = await answer_next(store, a, click)
    assert [r.key for r in retried.replies] == [THREAD, ConversationKey("telegram", "42")]
    other = Turn(
        THREAD, Sender("UBOB", "bob", Role.STAFF), "another-click", (TextPart("Return"),),
        command=click.command,
    )  # fmt: skip
    assert (await answer_next(store, a, other)).replies == ()  # a different click: no repeat


async def test_a_brain_can_withhold_the_live_preview(store: Store) -> None:
    from dataclasses import replace

    class NoPreviewBrain(PolicyBrain):
        async def prepare(self, turn, context):  # type: ignore[no-untyped-def]
            return replace(await super().prepare(turn, context), stream_preview=False)

    opener = FakeOpener()
    built = answerer(
        store, StubEngine(lambda _r: "maybe size 42 fits", logprob=-4.0), opener=opener
    )
    built.brains = {role: NoPreviewBrain() for role in built.brains}
    completion = await answer_next(store, built, tg("does 42 fit me"))
    [stream] = opener.streams  # opened (the platform shows "typing") ...
    assert stream.updates == [] and stream.closed  # ... but no text was shown
    assert completion.replies[0].kind is ReplyKind.HANDOFF
    [request] = opener.requests
    assert request.preview is False and request.stoppable  # the platform shows "thinking"


async def test_the_stream_request_names_the_turn_and_its_sender(store: Store) -> None:
    opener = FakeOpener()
    turn = tg("hello there friend")
    await answer_next(store, answerer(store, opener=opener), turn)
    [request] = opener.requests
    assert (request.key, request.reply_to) == (turn.key, turn.message_id)
    assert request.recipient == turn.sender and request.preview and request.stoppable


class RecordingEngine(StubEngine):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aborted: list[str] = []

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
        await super().abort(request_id)


async def test_a_stop_aborts_the_engine_and_sends_nothing(store: Store) -> None:
    engine = RecordingEngine(lambda _r: " ".join(["word"] * 200), token_delay_s=0.01)
    interrupts = Interrupts()
    built = answerer(store, engine, opener=FakeOpener())
    built.interrupts = interrupts
    turn = tg("write an essay")

    async def press_stop() -> None:
        while not interrupts.running(turn.key):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert await interrupts.stop(turn.key)

    stopper = asyncio.create_task(press_stop())
    completion = await answer_next(store, built, turn)
    await stopper
    assert completion.replies == () and completion.decision.kind is DecisionKind.STOPPED
    assert engine.aborted == [engine.requests[0].request_id]
    assert completion.decision.reasons[1].startswith(DRAFT_REASON + "word word")
    assert completion.bot_turns == ()  # a stopped answer is not remembered as said


async def test_a_stop_that_reaches_the_inbox_is_ignored(store: Store) -> None:
    completion = await answer_next(store, answerer(store), tg("", command=Command.STOP))
    assert completion.replies == () and completion.decision.kind is DecisionKind.IGNORED


async def test_a_draft_past_the_deadline_becomes_the_handoff_notice_in_time(
    store: Store,
) -> None:
    from core.answering.draft import DraftBudget
    from tests.handoff.helpers import ThreadDesk

    engine = StubEngine(lambda _r: " ".join(["slow"] * 400), token_delay_s=0.01)
    a = Answerer(
        store,
        engine,
        {Role.CUSTOMER: PolicyBrain(), Role.STAFF: PromptBrain()},
        settings=AnswerSettings(handoff_wait_minutes=7, draft_budget=DraftBudget(deadline_s=0.2)),
        desks=[ThreadDesk()],  # a desk that can take it (without one: the contact notice)
    )
    started = asyncio.get_running_loop().time()
    completion = await answer_next(store, a, tg("a long question"))
    assert asyncio.get_running_loop().time() - started < 2.0
    [notice] = completion.replies
    assert notice.kind is ReplyKind.HANDOFF and completion.new_state == "handoff"
    assert "no answer within the 0.2 s budget" in completion.decision.reasons
    assert any(r.startswith(DRAFT_REASON) for r in completion.decision.reasons)
    assert engine.requests[0].request_id in engine._aborted
