"""ReplyBook and the SSE reply stream: in-process hand-over of replies to waiting requests."""

from __future__ import annotations

import asyncio

from adapters.webhook.live import LiveEvent, LiveRequest, ReplyBook, SseReplyStream
from adapters.webhook.schema import ReplyEvent
from core.model.turn import ConversationKey

KEY = ConversationKey("webhook", "conv-1", source="shop")


def reply(turn_id: int | None, seq: int, final: bool, text: str = "hi") -> ReplyEvent:
    return ReplyEvent(
        text=text,
        kind="answer",
        source="shop",
        conversation_id="conv-1",
        turn_id=turn_id,
        seq=seq,
        final=final,
    )


def drain(live: LiveRequest) -> list[LiveEvent]:
    events = []
    while not live.events.empty():
        events.append(live.events.get_nowait())
    return events


def test_replies_recorded_before_attach_are_queued_in_sequence_order() -> None:
    book = ReplyBook()
    book.record(11, reply(5, 2, True, "second"))
    book.record(10, reply(5, 1, False, "first"))
    live = LiveRequest(KEY, "m1", streaming=False)
    book.attach(live, 5)
    assert [e.text for e in drain(live) if isinstance(e, ReplyEvent)] == ["first", "second"]


def test_replies_after_attach_are_pushed_and_retries_deduped() -> None:
    book = ReplyBook()
    live = LiveRequest(KEY, "m1", streaming=False)
    book.attach(live, 5)
    book.record(10, reply(5, 1, True))
    book.record(10, reply(5, 1, True))  # the dispatcher retried the same outbox row
    book.record(12, reply(6, 1, True))  # another turn
    assert len(drain(live)) == 1
    assert [r.seq for r in book.replies(5)] == [1]


def test_unsolicited_replies_are_not_kept() -> None:
    book = ReplyBook()
    book.record(1, reply(None, 1, True))
    assert book.replies(0) == []


def test_release_stops_delivery() -> None:
    book = ReplyBook()
    live = LiveRequest(KEY, "m1", streaming=True)
    book.register(live)
    book.attach(live, 5)
    book.release(live)
    book.record(10, reply(5, 1, True))
    assert drain(live) == []
    assert book.stream_for(KEY, "m1") is None
    assert book.replies(5)  # still remembered for a replay


def test_stream_for_matches_message_id_then_oldest_of_conversation() -> None:
    book = ReplyBook()
    waiting = LiveRequest(KEY, "m0", streaming=False)
    first = LiveRequest(KEY, "m1", streaming=True)
    second = LiveRequest(KEY, "m2", streaming=True)
    other = LiveRequest(ConversationKey("webhook", "conv-2", source="shop"), "m3", streaming=True)
    for live in (waiting, first, second, other):
        book.register(live)
    assert book.stream_for(KEY, "m0") is None  # wait=true requests do not stream
    assert book.stream_for(KEY, "nope") is None
    for live, message_id in ((first, "m1"), (second, "m2")):
        stream = book.stream_for(KEY, message_id)
        assert stream is not None and stream._live is live
    oldest = book.stream_for(KEY, None)
    assert oldest is not None and oldest._live is first


async def test_sse_stream_coalesces_updates_and_flushes_on_close() -> None:
    live = LiveRequest(KEY, "m1", streaming=True)
    stream = SseReplyStream(live, min_interval_s=10)
    assert stream.ref is not None and stream.ref.startswith("sse:")
    await stream.update("a")
    await stream.update("a b")  # within the interval: held back
    await stream.update("a b c")
    assert drain(live) == ["a"]
    await stream.close()
    assert drain(live) == ["a b c"]


async def test_sse_stream_sends_each_update_when_slow_enough() -> None:
    live = LiveRequest(KEY, "m1", streaming=True)
    stream = SseReplyStream(live, min_interval_s=0.01)
    for text in ("a", "a", "a b"):
        await stream.update(text)
        await asyncio.sleep(0.02)
    await stream.close()
    assert drain(live) == ["a", "a b"]  # unchanged text is not resent


async def test_no_partials_after_the_request_finished() -> None:
    live = LiveRequest(KEY, "m1", streaming=True)
    live.finished = True
    await SseReplyStream(live, min_interval_s=0).update("late")
    assert drain(live) == []


def test_eviction_keeps_turns_with_subscribers() -> None:
    book = ReplyBook(max_turns=2)
    live = LiveRequest(KEY, "m1", streaming=False)
    book.attach(live, 1)
    for turn_id in (2, 3, 4):
        book.record(turn_id * 10, reply(turn_id, 1, True))
    assert book.replies(2) == [] and book.replies(3) == []
    assert book.replies(4)
    book.record(10, reply(1, 1, True))
    assert [e.turn_id for e in drain(live) if isinstance(e, ReplyEvent)] == [1]


async def test_partials_before_the_turn_is_stored_are_kept() -> None:
    # The worker may start streaming before the request learns its turn id.
    book = ReplyBook()
    live = LiveRequest(KEY, "m1", streaming=True)
    book.register(live)
    stream = book.stream_for(KEY, "m1")
    assert stream is not None
    await stream.update("early")
    book.record(10, reply(5, 1, True, "early text"))
    book.attach(live, 5)
    assert [e if isinstance(e, str) else e.text for e in drain(live)] == ["early", "early text"]


def test_a_full_book_keeps_the_newest_turns() -> None:
    book = ReplyBook(max_turns=100)
    for turn_id in range(1, 5001):
        book.record(turn_id, reply(turn_id, 1, True))
    assert book.replies(4900) == []
    assert all(book.replies(turn_id) for turn_id in range(4901, 5001))
