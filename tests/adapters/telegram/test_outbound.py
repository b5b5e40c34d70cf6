"""Pure outbound logic: splitting, previews, specs, buttons, quoting and error mapping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from adapters.telegram.outbound import (
    ELLIPSIS,
    OutgoingPhoto,
    OutgoingText,
    draft_preview,
    map_telegram_error,
    quoted_message_id,
    reply_to_messages,
    split_text,
    utf16_len,
)
from core.errors import InvalidInputError, PermanentDeliveryError, PlatformError, RateLimitedError
from core.model.turn import Button, Command, ConversationKey, ImagePart, Reply

KEY = ConversationKey("telegram", "42")
NASTY = "*bold_ [link](http://x) `code` <b>html</b> \\ _*[]()~`>#+-=|{}.! &amp; <i"


def _squash(text: str) -> str:
    return "".join(text.split())


def test_utf16_len_counts_astral_characters_twice() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2
    assert utf16_len("中文") == 2


def test_short_text_is_one_part_and_blank_text_is_none() -> None:
    assert split_text("  hello  ") == ["hello"]
    assert split_text(" \n\t ") == []


def test_split_prefers_paragraph_boundaries() -> None:
    first, second = "a" * 3000, "b" * 3000
    parts = split_text(f"{first}\n\n{second}")
    assert parts == [first, second]


def test_split_falls_back_to_lines_then_sentences_then_words() -> None:
    lines = split_text(("x" * 2500 + "\n") * 3)
    assert all(set(part) <= {"x", "\n"} for part in lines)
    assert all(utf16_len(p) <= 4096 for p in lines) and len(lines) == 3
    sentences = split_text("This is a sentence. " * 400)
    assert all(part.endswith(".") for part in sentences)
    words = split_text("word " * 2000)
    assert all(not part.endswith("wor") for part in words)
    assert _squash("".join(words)) == _squash("word " * 2000)


def test_split_never_cuts_a_surrogate_pair_and_respects_utf16_limit() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units, no boundaries at all
    parts = split_text(text)
    assert len(parts) == 2
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(parts) == text
    for part in parts:
        part.encode("utf-16-le", errors="strict")  # a lone surrogate would raise


def test_split_keeps_combining_marks_with_their_base() -> None:
    text = "e\u0301" * 3000  # é as e + combining acute, 6000 code points
    parts = split_text(text, limit=4095)
    assert "".join(parts) == text
    assert all(not p.startswith("\u0301") for p in parts)


def test_split_rejects_a_limit_that_cannot_hold_a_surrogate_pair() -> None:
    with pytest.raises(ValueError):
        split_text("abc", limit=1)


@settings(max_examples=60, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(["a", "b", " ", "\n", ".", "。", "😀", "中", "e\u0301", "\n\n"]),
        max_size=200,
    ).map("".join),
    limit=st.integers(min_value=2, max_value=64),
)
def test_split_property_every_part_fits_and_nothing_is_lost(text: str, limit: int) -> None:
    parts = split_text(text, limit=limit)
    assert all(0 < utf16_len(p) <= limit for p in parts)
    assert all(p == p.strip() for p in parts)
    assert _squash("".join(parts)) == _squash(text)


def test_draft_preview_shows_the_tail_within_the_limit() -> None:
    text = "start " + "y" * 5000 + " the end"
    preview = draft_preview(text)
    assert preview.startswith(ELLIPSIS)
    assert preview.endswith("the end")
    assert utf16_len(preview) <= 4096
    assert draft_preview("short ") == "short"


def test_reply_is_plain_text_verbatim_even_with_markup_characters() -> None:
    (spec,) = reply_to_messages(Reply(KEY, NASTY))
    assert isinstance(spec, OutgoingText)
    assert spec.text == NASTY
    assert spec.chat_id == 42 and spec.thread_id is None


def test_long_reply_puts_buttons_on_last_part_and_quotes_only_the_first() -> None:
    reply = Reply(KEY, ("para " * 500 + "\n\n") * 4, reply_to="42:7",
                  buttons=(Button("Talk to a person", Command.HUMAN),))  # fmt: skip
    specs = [s for s in reply_to_messages(reply) if isinstance(s, OutgoingText)]
    assert len(specs) >= 2 and len(specs) == len(reply_to_messages(reply))
    assert [s.buttons for s in specs] == [()] * (len(specs) - 1) + [reply.buttons]
    assert [s.reply_to_message_id for s in specs] == [7] + [None] * (len(specs) - 1)


def test_photos_go_first_and_thread_is_kept() -> None:
    image = ImagePart.from_normalised(b"\xff\xd8fake", "image/jpeg", 1, 1, caption="look")
    key = ConversationKey("telegram", "-100555", "12")
    specs = reply_to_messages(Reply(key, "see above", images=(image,)))
    assert isinstance(specs[0], OutgoingPhoto) and specs[0].caption == "look"
    assert isinstance(specs[1], OutgoingText) and specs[1].thread_id == 12
    assert specs[1].chat_id == -100555


def test_invalid_buttons_and_foreign_keys_are_typed_errors() -> None:
    with pytest.raises(InvalidInputError):
        reply_to_messages(Reply(KEY, "x", buttons=(Button("b", Command.TAKE, "9" * 60),)))
    with pytest.raises(InvalidInputError):
        reply_to_messages(Reply(KEY, "x", buttons=(Button(" ", Command.HUMAN),)))
    with pytest.raises(InvalidInputError):
        reply_to_messages(Reply(ConversationKey("slack", "C1"), "x"))


@pytest.mark.parametrize(
    ("reply_to", "expected"),
    [("42:7", 7), ("42:7:edit:1700000000", 7), ("42:album:99", None),
     ("callback:cbq-1", None), ("43:7", None), ("15", 15), (None, None)],
)  # fmt: skip
def test_quoted_message_id(reply_to: str | None, expected: int | None) -> None:
    assert quoted_message_id(reply_to, 42) == expected


def test_error_mapping() -> None:
    limited = map_telegram_error(RetryAfter(3), "sendMessage")
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 3.0
    assert isinstance(
        map_telegram_error(Forbidden("bot was blocked by the user"), "x"), PermanentDeliveryError
    )
    assert isinstance(map_telegram_error(BadRequest("Chat not found"), "x"), PermanentDeliveryError)
    assert isinstance(map_telegram_error(ChatMigrated(-100999), "x"), PermanentDeliveryError)
    for error in (BadRequest("Message is too long"), NetworkError("connection reset")):
        mapped = map_telegram_error(error, "x")
        assert type(mapped) is PlatformError
