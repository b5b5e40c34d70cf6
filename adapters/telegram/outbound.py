"""Replies to Telegram messages: typed outgoing specs, clean splitting, error mapping.

Everything here is pure. Replies are sent as **plain text** (no ``parse_mode``): whatever
the model writes (``*_[`<b>``, lone backslashes, half-open tags) is shown verbatim and can
never make Telegram reject a message for bad markup, and there are no escape sequences a
split could cut in half.

Telegram counts the 4096-character limit in UTF-16 code units, so an emoji outside the
Basic Multilingual Plane counts twice; :func:`utf16_len` measures that way and splits
only ever fall between Python code points (so never inside a surrogate pair).
"""

from __future__ import annotations

import datetime as dtm
import re
import unicodedata
import warnings
from dataclasses import dataclass

from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from core.errors import (
    InvalidInputError,
    PermanentDeliveryError,
    PlatformError,
    RateLimitedError,
)
from core.model.turn import Button, ConversationKey, ImagePart, Reply

MAX_MESSAGE_UNITS = 4096
MAX_CAPTION_UNITS = 1024
MAX_CALLBACK_DATA_BYTES = 64
ELLIPSIS = "…"

# Boundaries tried in order; a boundary is used only if it keeps at least this share of
# the window, so a paragraph break near the start does not produce a tiny first part.
_MIN_SHARE = 0.5
_SENTENCE_END = re.compile(r"[.!?…](?=\s)|[。！？；]")
_PERMANENT_BAD_REQUESTS = ("chat not found", "user not found", "peer_id_invalid")


@dataclass(frozen=True, slots=True)
class OutgoingText:
    """One ``sendMessage`` call.

    Attributes:
        chat_id: Telegram chat id.
        text: At most 4096 UTF-16 units of plain text.
        thread_id: Forum topic to post into, if any.
        reply_to_message_id: Message to quote, if any (sent even if it was deleted).
        buttons: Inline buttons; only ever set on the last part of a reply.
    """

    chat_id: int | str
    text: str
    thread_id: int | None = None
    reply_to_message_id: int | None = None
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingPhoto:
    """One ``sendPhoto`` call with an already-normalised image."""

    chat_id: int | str
    photo: ImagePart
    caption: str = ""
    thread_id: int | None = None
    reply_to_message_id: int | None = None


OutgoingMessage = OutgoingText | OutgoingPhoto


def utf16_len(text: str) -> int:
    """Length of ``text`` as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """Largest code-point index ``i`` with ``utf16_len(text[:i]) <= limit``."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _joins_previous(char: str) -> bool:
    """True for characters that must stay glued to the one before them."""
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or char in "\u200d\ufe0e\ufe0f"
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (flags)
    )


def _safe_hard_cut(text: str, end: int) -> int:
    """Move a hard cut left until it does not split a grapheme we can recognise."""
    cut = end
    while cut > 1 and (_joins_previous(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    return cut if cut > 0 else end


def _boundary_cut(window: str) -> int | None:
    """Best place to cut ``window``: paragraph, then line, sentence, then word break."""
    floor = int(len(window) * _MIN_SHARE)
    for separator in ("\n\n", "\n"):
        position = window.rfind(separator)
        if position >= floor and position > 0:
            return position
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    if sentence_ends and sentence_ends[-1] >= floor:
        return sentence_ends[-1]
    spaces = [m.start() for m in re.finditer(r"\s", window)]
    if spaces and spaces[-1] > 0:
        return spaces[-1]
    return None


def split_text(text: str, limit: int = MAX_MESSAGE_UNITS) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` UTF-16 units, at natural boundaries.

    Whitespace at a cut is dropped (Telegram would strip it anyway); every other
    character is kept, in order. Blank input gives no parts.

    Raises:
        ValueError: if ``limit`` is smaller than 2 (a surrogate pair must fit).
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 UTF-16 units")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= limit:
            parts.append(rest)
            break
        end = _fitting_prefix(rest, limit)
        window = rest[:end]
        cut = _boundary_cut(window)
        if cut is None:
            cut = _safe_hard_cut(rest, end)
        head = rest[:cut].rstrip()
        if not head:  # only whitespace before the cut: fall back to a hard cut
            cut = _safe_hard_cut(rest, end)
            head = rest[:cut]
        parts.append(head)
        rest = rest[cut:].lstrip()
    return parts


def draft_preview(text: str, limit: int = MAX_MESSAGE_UNITS) -> str:
    """What a streaming draft shows: the text, or its tail after ``…`` when too long."""
    text = text.strip()
    if utf16_len(text) <= limit:
        return text
    budget = limit - utf16_len(ELLIPSIS)
    tail_units = 0
    start = len(text)
    while start > 0:
        char_units = 2 if ord(text[start - 1]) > 0xFFFF else 1
        if tail_units + char_units > budget:
            break
        tail_units += char_units
        start -= 1
    while start < len(text) and _joins_previous(text[start]):
        start += 1  # do not begin the preview with half a grapheme
    return ELLIPSIS + text[start:]


def chat_target(key: ConversationKey) -> tuple[int | str, int | None]:
    """Telegram ``chat_id`` and ``message_thread_id`` for a conversation key.

    Raises:
        InvalidInputError: the key is not a Telegram key.
    """
    if key.platform != "telegram" or not key.chat_id:
        raise InvalidInputError(f"not a Telegram conversation: {key.as_str()}")
    chat: int | str = int(key.chat_id) if _is_int(key.chat_id) else key.chat_id
    thread = int(key.thread_id) if _is_int(key.thread_id) else None
    return chat, thread


def quoted_message_id(reply_to: str | None, chat_id: int | str) -> int | None:
    """The Telegram message id inside a kefu message id, when it names one in this chat.

    kefu message ids look like ``"<chat>:<id>"`` or ``"<chat>:<id>:edit:<ts>"``; album and
    callback ids name no single message and give None.
    """
    if not reply_to:
        return None
    if _is_int(reply_to):
        return int(reply_to)
    pieces = reply_to.split(":")
    if len(pieces) >= 2 and pieces[0] == str(chat_id) and _is_int(pieces[1]):
        return int(pieces[1])
    return None


def _is_int(value: str) -> bool:
    return bool(re.fullmatch(r"-?\d+", value or ""))


def check_buttons(buttons: tuple[Button, ...]) -> None:
    """Reject buttons Telegram would refuse (callback data is at most 64 bytes).

    Raises:
        InvalidInputError: a button has no label or too long an action.
    """
    for button in buttons:
        if not button.label.strip():
            raise InvalidInputError("button label is empty")
        if not 1 <= len(button.token.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise InvalidInputError(
                f"button action must be 1..{MAX_CALLBACK_DATA_BYTES} bytes: {button.token!r}"
            )


def reply_to_messages(reply: Reply) -> list[OutgoingMessage]:
    """Translate a reply into Telegram sends: photos first, then the text split in parts.

    Buttons ride on the last text part; only the first message quotes ``reply_to``. A reply
    with no text and no images gives ``[]``.

    Raises:
        InvalidInputError: not a Telegram key, or buttons Telegram would refuse.
    """
    chat_id, thread_id = chat_target(reply.key)
    check_buttons(reply.buttons)
    quote = quoted_message_id(reply.reply_to, chat_id)
    messages: list[OutgoingMessage] = []
    for image in reply.images:
        caption = image.caption if utf16_len(image.caption) <= MAX_CAPTION_UNITS else ""
        messages.append(OutgoingPhoto(chat_id, image, caption, thread_id, quote))
        quote = None  # only the first message of a reply quotes
    parts = split_text(reply.text)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        buttons = reply.buttons if last else ()
        messages.append(OutgoingText(chat_id, part, thread_id, quote, buttons))
        quote = None
    return messages


def retry_after_seconds(error: RetryAfter) -> float:
    """``RetryAfter.retry_after`` in seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        # PTB 22.2+ warns that the int form is deprecated; both forms are handled here.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)


def is_not_modified(error: TelegramError) -> bool:
    """True for the harmless "message is not modified" answer to an identical edit."""
    return isinstance(error, BadRequest) and "message is not modified" in error.message.lower()


def is_edit_target_gone(error: TelegramError) -> bool:
    """True when the message to edit no longer exists (the customer deleted it)."""
    text = error.message.lower()
    return isinstance(error, BadRequest) and (
        "message to edit not found" in text or "message can't be edited" in text
    )


def map_telegram_error(error: TelegramError, action: str) -> PlatformError:
    """Translate a PTB error into kefu's delivery errors.

    ``RetryAfter`` becomes :class:`RateLimitedError` (the dispatcher waits), a blocked bot,
    a missing or migrated chat become :class:`PermanentDeliveryError` (dead-lettered), and
    anything else a retryable :class:`PlatformError`.
    """
    if isinstance(error, RetryAfter):
        seconds = retry_after_seconds(error)
        return RateLimitedError(f"{action}: rate limited for {seconds}s", retry_after=seconds)
    if isinstance(error, Forbidden):
        return PermanentDeliveryError(f"{action}: forbidden: {error.message}")
    if isinstance(error, ChatMigrated):
        return PermanentDeliveryError(f"{action}: chat migrated to {error.new_chat_id}")
    lowered = error.message.lower()
    if isinstance(error, BadRequest) and any(m in lowered for m in _PERMANENT_BAD_REQUESTS):
        return PermanentDeliveryError(f"{action}: {error.message}")
    return PlatformError(f"{action}: {type(error).__name__}: {error.message}")
