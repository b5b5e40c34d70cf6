"""The deterministic summary and the staff-facing texts."""

from __future__ import annotations

from datetime import UTC, datetime

from core.handoff.summary import (
    buttons,
    customer_label,
    detect_topics,
    parent_text,
    relay_text,
    summarise,
    transcript_text,
)
from core.media.images import ImageLimits, normalise_image
from core.model.handoff import HandoffRecord, TranscriptEntry
from core.model.turn import Command, ConversationKey, Role, Sender, parse_command_token
from tests.conftest import png_bytes

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CUSTOMER = Sender("42", "Ada Lovelace", Role.CUSTOMER)
PHOTO = normalise_image(png_bytes((20, 10)), ImageLimits())


def record() -> HandoffRecord:
    return HandoffRecord(
        7,
        1,
        ConversationKey("telegram", "42"),
        "open",
        "complaint wording: '投诉'",
        "slack",
        None,
        None,
        None,
        AT,
    )


def entry(turn_id: int, role: Role, words: str, images: int = 0) -> TranscriptEntry:
    sender = {
        Role.CUSTOMER: CUSTOMER,
        Role.BOT: Sender("kefu", "kefu", Role.BOT),
        Role.STAFF: Sender("U1", "alice", Role.STAFF),
    }[role]
    return TranscriptEntry(turn_id, role, sender, words, (PHOTO,) * images, None, AT)


def test_topics_come_from_keywords_in_both_languages() -> None:
    assert detect_topics("我要投诉，收到的鞋子是坏的，要退款") == (
        "complaint",
        "damaged item",
        "refund/return",
    )
    assert detect_topics("where is my parcel? how much is shipping") == ("order status", "price")
    assert detect_topics("hello") == ()


def test_the_summary_quotes_the_latest_customer_messages_and_counts_photos() -> None:
    entries = [
        entry(1, Role.CUSTOMER, "hi, order SO20260301-0042 arrived"),
        entry(2, Role.BOT, "Hello! How can I help?"),
        entry(3, Role.CUSTOMER, "the heel is broken", images=2),
        entry(4, Role.STAFF, "looking", images=1),
        entry(5, Role.CUSTOMER, "x" * 500),
    ]
    summary = summarise(record(), CUSTOMER, entries, recent_count=2)
    assert summary.recent == ("the heel is broken", "x" * 299 + "…")
    assert summary.photos == 2  # the staff photo is not the customer's
    assert summary.order_numbers == ("SO20260301-0042",)
    assert summary.intents == ("damaged item",)
    assert summarise(record(), CUSTOMER, entries, 2) == summary  # deterministic


def test_the_parent_message_names_the_customer_reason_and_topics() -> None:
    entries = [entry(1, Role.CUSTOMER, "我要投诉，鞋子坏了", images=1)]
    body = parent_text(record(), summarise(record(), CUSTOMER, entries, 3))
    assert body.splitlines()[:5] == [
        "Handoff #7: a customer needs a person",
        "Customer: Ada Lovelace (telegram id 42)",
        "Platform: telegram",
        "Reason: complaint wording: '投诉'",
        "Topics: complaint, damaged item",
    ]
    assert "Photos: 1 (re-uploaded below)" in body and "• 我要投诉，鞋子坏了" in body
    assert customer_label(Sender("99", "", Role.CUSTOMER), "webhook:shop") == (
        "unknown name (webhook:shop id 99)"
    )


def test_buttons_carry_the_handoff_id_and_parse_back() -> None:
    assert [(b.label, b.token) for b in buttons(7)] == [
        ("Take", "handoff:take:7"),
        ("Resolve", "handoff:resolve:7"),
        ("Return to bot", "handoff:return:7"),
    ]
    assert parse_command_token("handoff:return:7") == (Command.RETURN, "7")
    for bad in ("handoff:take:", "handoff:take:7x", "handoff:delete:7", "action:x:y", "/foo"):
        assert parse_command_token(bad) is None


def test_transcript_and_relay_lines() -> None:
    lines = transcript_text(
        [
            entry(1, Role.CUSTOMER, "broken", images=1),
            entry(2, Role.BOT, "sorry"),
            entry(3, Role.STAFF, "on it"),
        ]
    ).splitlines()
    assert lines == [
        "Transcript (last 3 turns, times in UTC):",
        "[09:30] Ada Lovelace: broken [1 photo(s)]",
        "[09:30] bot: sorry",
        "[09:30] staff alice: on it",
    ]
    assert relay_text(CUSTOMER, "", 2) == "Ada Lovelace sent [2 photo(s) below]"
    assert relay_text(CUSTOMER, "hello", 0) == "Ada Lovelace: hello"
