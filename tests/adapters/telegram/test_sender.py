"""TelegramSender.deliver against the fake Bot API: drafts, overflow, 429s, permanent errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from adapters.telegram.outbound import reply_to_messages
from adapters.telegram.sender import TelegramSender
from adapters.telegram.streaming import ChatPacer
from core.errors import LeaseLostError, PermanentDeliveryError, PlatformError, RateLimitedError
from core.model.turn import Button, Command, ConversationKey, ImagePart, Reply
from core.ports import OutboundMessage
from tests.adapters.telegram.conftest import jpeg_bytes
from tests.fakes.telegram_server import FakeTelegramServer

KEY = ConversationKey("telegram", "42")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


HUMAN = (Button("Talk to a person", Command.HUMAN),)


@pytest.fixture
async def bot(tg: FakeTelegramServer) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.file_url) as client:
        yield client


@pytest.fixture
def sender(bot: Bot) -> TelegramSender:
    return TelegramSender(bot, ChatPacer(0.01))


async def deliver(
    sender: TelegramSender, reply: Reply, outbox_id: int = 1, stream_ref: str | None = None
):  # type: ignore[no-untyped-def]
    message = OutboundMessage(outbox_id, reply, stream_ref=stream_ref)
    return await sender.deliver(message, reply_to_messages(reply))


async def test_plain_reply_with_button_and_quote(
    tg: FakeTelegramServer, sender: TelegramSender
) -> None:
    nasty = "*_[`<b>unclosed \\ [x](y) </i>"
    receipt = await deliver(sender, Reply(KEY, nasty, reply_to="42:9", buttons=HUMAN))
    (call,) = tg.calls_of("sendMessage")
    assert call.params["text"] == nasty and "parse_mode" not in call.params
    assert call.params["reply_parameters"] == {"message_id": 9, "allow_sending_without_reply": True}
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Talk to a person", "callback_data": "human"}]]
    }
    assert receipt.platform_message_ids == (str(tg.chat_messages(42)[0].message_id),)


async def test_stream_ref_edits_the_draft_and_overflow_goes_in_new_messages(
    tg: FakeTelegramServer, bot: Bot, sender: TelegramSender
) -> None:
    draft = await bot.send_message(42, "partial answer…")
    final = ("A" * 3000 + "\n\n") * 3
    receipt = await deliver(
        sender, Reply(KEY, final.strip(), buttons=HUMAN), stream_ref=str(draft.message_id)
    )
    messages = tg.chat_messages(42)
    assert messages[0].message_id == draft.message_id
    assert [m.text for m in messages] == ["A" * 3000] * 3
    assert messages[0].reply_markup is None and messages[-1].reply_markup is not None
    assert receipt.platform_message_ids[0] == str(draft.message_id)
    assert len(tg.calls_of("editMessageText")) == 1 and len(tg.calls_of("sendMessage")) == 3


async def test_identical_draft_counts_as_delivered(
    tg: FakeTelegramServer, bot: Bot, sender: TelegramSender
) -> None:
    draft = await bot.send_message(42, "all done")
    receipt = await deliver(sender, Reply(KEY, "all done"), stream_ref=str(draft.message_id))
    assert receipt.platform_message_ids == (str(draft.message_id),)
    assert tg.calls_of("editMessageText")[0].status == 400  # "message is not modified"
    assert tg.chat_texts(42) == ["all done"]


async def test_deleted_draft_falls_back_to_a_new_message(
    tg: FakeTelegramServer, sender: TelegramSender
) -> None:
    await deliver(sender, Reply(KEY, "final text"), stream_ref="999999")
    assert tg.chat_texts(42) == ["final text"]


async def test_429_raises_rate_limited_and_the_retry_resumes_without_duplicates(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    clock = FakeClock()
    sender = TelegramSender(bot, ChatPacer(0.01, clock), max_inline_pace_s=0.5)
    reply = Reply(KEY, "\n\n".join(["B" * 4000, "C" * 4000, "D" * 100]))
    tg.fail_next("sendMessage", count=1, retry_after=2, after=1)  # part 2 hits the flood limit
    with pytest.raises(RateLimitedError) as caught:
        await deliver(sender, reply, outbox_id=7)
    assert caught.value.retry_after == 2.0
    assert tg.chat_texts(42) == ["B" * 4000]
    with pytest.raises(RateLimitedError):  # the chat is still cooling down: no call at all
        await deliver(sender, reply, outbox_id=7)
    assert len(tg.calls_of("sendMessage")) == 2
    clock.now += 2.5
    receipt = await deliver(sender, reply, outbox_id=7)
    assert tg.chat_texts(42) == ["B" * 4000, "C" * 4000, "D" * 100]  # each part exactly once
    assert len(receipt.platform_message_ids) == 3


async def test_photos_are_uploaded_before_the_text(
    tg: FakeTelegramServer, sender: TelegramSender
) -> None:
    data = jpeg_bytes()
    image = ImagePart.from_normalised(data, "image/jpeg", 64, 48, caption="your parcel")
    await deliver(sender, Reply(KEY, "Here it is", images=(image,)))
    photo, text = tg.chat_messages(42)
    assert photo.photo == data and photo.text == "your parcel"
    assert text.text == "Here it is"


async def test_blocked_or_missing_chats_are_permanent(
    tg: FakeTelegramServer, sender: TelegramSender
) -> None:
    tg.blocked_chats.add(42)
    with pytest.raises(PermanentDeliveryError, match="blocked"):
        await deliver(sender, Reply(KEY, "hi"))
    tg.missing_chats.add(43)
    with pytest.raises(PermanentDeliveryError, match=r"(?i)chat not found"):
        await deliver(sender, Reply(ConversationKey("telegram", "43"), "hi"))


async def test_other_errors_are_retryable_platform_errors(
    tg: FakeTelegramServer, sender: TelegramSender
) -> None:
    tg.fail_with("sendMessage", 500, "Internal Server Error")
    with pytest.raises(PlatformError) as caught:
        await deliver(sender, Reply(KEY, "hi"))
    assert not isinstance(caught.value, PermanentDeliveryError | RateLimitedError)
    await deliver(sender, Reply(KEY, "hi"))
    assert tg.chat_texts(42) == ["hi"]


async def test_empty_reply_is_permanent(sender: TelegramSender) -> None:
    with pytest.raises(PermanentDeliveryError):
        await deliver(sender, Reply(KEY, "   "))


class RecordedParts:
    """DeliveryProgress in memory: what the outbox would hold."""

    def __init__(self) -> None:
        self.records: list[tuple[str, ...]] = []

    async def ensure_held(self) -> None:
        """Always held: this fake's row is never taken over."""

    async def parts_sent(self, platform_message_ids: tuple[str, ...]) -> None:
        self.records.append(platform_message_ids)


async def test_each_part_is_recorded_before_the_next_and_a_new_process_resumes_after_them(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    reply = Reply(KEY, "\n\n".join(["B" * 4000, "C" * 4000, "D" * 100]))
    progress = RecordedParts()
    tg.fail_with("sendMessage", 500, "Internal Server Error", after=2)  # part 3: "dies" here
    with pytest.raises(PlatformError):
        await TelegramSender(bot, ChatPacer(0.01)).deliver(
            OutboundMessage(9, reply, progress=progress), reply_to_messages(reply)
        )
    first, second = (str(m.message_id) for m in tg.chat_messages(42))
    assert progress.records == [(first,), (first, second)]  # durable before the next part
    # Another process (nothing in memory) gets the row with what the outbox recorded.
    fresh = TelegramSender(bot, ChatPacer(0.01))
    message = OutboundMessage(9, reply, attempt=2, sent=progress.records[-1], progress=progress)
    receipt = await fresh.deliver(message, reply_to_messages(reply))
    assert tg.chat_texts(42) == ["B" * 4000, "C" * 4000, "D" * 100]  # each part exactly once
    assert receipt.platform_message_ids[:2] == (first, second)
    third = receipt.platform_message_ids[2]
    # The last part is recorded too, at once: a kill before the batched "delivered" mark
    # no longer repeats it.
    assert progress.records[2:] == [(first, second, third)]
    again = OutboundMessage(9, reply, attempt=3, sent=progress.records[-1], progress=progress)
    assert (await TelegramSender(bot, ChatPacer(0.01)).deliver(again, reply_to_messages(reply))
            ).platform_message_ids == (first, second, third)  # fmt: skip
    assert len(tg.chat_messages(42)) == 3  # a process killed before its mark sends nothing


class LapsingLease(RecordedParts):
    """The outbox row is taken over after ``held`` checks (its holder starved)."""

    def __init__(self, held: int) -> None:
        super().__init__()
        self.held = held
        self.checks = 0

    async def ensure_held(self) -> None:
        self.checks += 1
        if self.checks > self.held:
            raise LeaseLostError("outbox 9: taken over")


async def test_no_part_is_sent_once_the_row_is_no_longer_held(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    """Each part's Bot API call comes right after a check that the row is still held: a
    holder that lost its row mid-reply stops, and the new holder resumes after what the
    outbox recorded."""
    reply = Reply(KEY, "\n\n".join(["B" * 4000, "C" * 4000, "D" * 100]))
    sender = TelegramSender(bot, ChatPacer(0.01))
    progress = LapsingLease(held=1)
    with pytest.raises(LeaseLostError):
        await sender.deliver(OutboundMessage(9, reply, progress=progress), reply_to_messages(reply))
    (first,) = (str(m.message_id) for m in tg.chat_messages(42))
    assert progress.checks == 2 and progress.records == [(first,)]  # part 2 was not sent
    taker = LapsingLease(held=10)
    message = OutboundMessage(9, reply, attempt=2, sent=(first,), progress=taker)
    await TelegramSender(bot, ChatPacer(0.01)).deliver(message, reply_to_messages(reply))
    assert tg.chat_texts(42) == ["B" * 4000, "C" * 4000, "D" * 100]  # each part once
    assert taker.checks == 2


class HeldRecords:
    """DeliveryProgress whose commits wait until released (a slow database)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.records = 0

    async def ensure_held(self) -> None:
        """Always held: this fake's row is never taken over."""

    async def parts_sent(self, platform_message_ids: tuple[str, ...]) -> None:
        await self.release.wait()
        self.records += 1


async def test_sends_whose_record_is_not_committed_are_bounded_per_process(
    tg: FakeTelegramServer, bot: Bot
) -> None:
    """A kill repeats the parts Telegram answered whose record is not committed yet; one
    process never has more of them than ``max_sends_in_flight``, however many rows it
    delivers at once."""
    sender = TelegramSender(bot, ChatPacer(0.01), max_sends_in_flight=2)
    progress = HeldRecords()
    replies = [Reply(ConversationKey("telegram", str(100 + n)), f"answer {n}") for n in range(6)]
    deliveries = [
        asyncio.ensure_future(
            sender.deliver(OutboundMessage(n, reply, progress=progress), reply_to_messages(reply))
        )
        for n, reply in enumerate(replies)
    ]
    await asyncio.sleep(0.5)  # the database is slow: records wait
    sent = sum(len(tg.chat_messages(100 + n)) for n in range(6))
    assert sent == 2  # exactly the bound is at risk, not all 6
    progress.release.set()
    await asyncio.gather(*deliveries)
    assert sum(len(tg.chat_messages(100 + n)) for n in range(6)) == 6
    assert progress.records == 6
    with pytest.raises(ValueError, match="at least 1"):
        TelegramSender(bot, ChatPacer(0.01), max_sends_in_flight=0)
