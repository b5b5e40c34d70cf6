"""Outbox messages into Slack threads: resuming after a kill, feedback buttons, references."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.delivery import ts_of
from core.errors import LeaseLostError
from core.model.turn import ConversationKey, Reply, ReplyKind
from core.ports import OutboundMessage

KEY = ConversationKey("slack", "C100", "1700000050.000100")


class RecordedParts:
    """DeliveryProgress in memory: what the outbox would hold."""

    def __init__(self, held: int | None = None) -> None:
        self.records: list[tuple[str, ...]] = []
        self.held = held  # checks passed before the row is taken over (None: never)
        self.checks = 0

    async def ensure_held(self) -> None:
        self.checks += 1
        if self.held is not None and self.checks > self.held:
            raise LeaseLostError("outbox row taken over")

    async def parts_sent(self, platform_message_ids: tuple[str, ...]) -> None:
        self.records.append(platform_message_ids)


async def test_pieces_are_recorded_as_sent_and_a_new_process_resumes_after_them(
    serve: Any,
) -> None:
    s = await serve()
    long_text = "\n\n".join(["A" * 3500, "B" * 3500, "C" * 100])
    first = OutboundMessage(1, Reply(KEY, long_text), progress=RecordedParts())
    receipt = await s.adapter.deliver(first)
    assert first.progress is not None
    records = first.progress.records  # type: ignore[attr-defined]
    pieces = receipt.platform_message_ids
    assert len(pieces) >= 2 and records[-1] == pieces[:-1]  # all but the last, in order
    # A kill after the first piece: another process gets what the outbox recorded.
    other = await serve()
    again = OutboundMessage(2, Reply(KEY, long_text), attempt=2, sent=pieces[:1])
    receipt = await other.adapter.deliver(again)
    assert receipt.platform_message_ids[0] == pieces[0]
    posted = other.fake.calls_to("chat.postMessage")  # both deliveries, one fake Slack
    assert len(posted) == len(pieces) * 2 - 1  # the resumed attempt skipped piece 1


async def test_no_piece_is_posted_once_the_row_is_no_longer_held(serve: Any) -> None:
    """A replica starved past its lease stops before its next post; the replica that took
    the row over posts the rest, each piece once."""
    s = await serve()
    long_text = "\n\n".join(["A" * 3500, "B" * 3500, "C" * 100])
    lapsing = RecordedParts(held=1)
    with pytest.raises(LeaseLostError):
        await s.adapter.deliver(OutboundMessage(1, Reply(KEY, long_text), progress=lapsing))
    assert len(s.fake.calls_to("chat.postMessage")) == 1 and lapsing.checks == 2
    (sent,) = lapsing.records
    taker = RecordedParts()
    again = OutboundMessage(1, Reply(KEY, long_text), attempt=2, sent=sent, progress=taker)
    receipt = await s.adapter.deliver(again)
    assert receipt.platform_message_ids[:1] == sent
    pieces = len(receipt.platform_message_ids)
    assert pieces >= 2 and len(s.fake.calls_to("chat.postMessage")) == pieces  # each once


async def test_feedback_buttons_go_under_the_last_piece_of_a_final_answer_only(
    serve: Any,
) -> None:
    s = await serve(feedback_buttons=True)
    long_text = "\n\n".join(["A" * 3800, "B" * 100])
    answer = Reply(KEY, long_text, kind=ReplyKind.ANSWER)
    await s.adapter.deliver(OutboundMessage(1, answer, turn_id=7))
    notice = Reply(KEY, "A person will take over.", kind=ReplyKind.NOTICE)
    await s.adapter.deliver(OutboundMessage(2, notice, turn_id=8))
    posted = s.fake.calls_to("chat.postMessage")
    with_feedback = ["feedback_buttons" in str(call.params.get("blocks")) for call in posted]
    assert with_feedback == [False, True, False]


def test_ts_of_reads_channel_references_and_bare_timestamps() -> None:
    assert ts_of("C100:1700000050.000100") == "1700000050.000100"
    assert ts_of("1700000050.000100") == "1700000050.000100"
    assert ts_of("") is None and ts_of(None) is None
