"""Telegram items, with their fetched photos, merged into one kefu turn (pure, no I/O).

The second step of :mod:`adapters.telegram.inbound`: :func:`build_turn` merges one
message, or every item of an album, into exactly one :class:`~core.model.turn.Turn`,
names it for the inbox (:func:`dedupe_id`), and keeps the text of whatever could not be
read as a bracketed note. :func:`notices_for` says which notices the adapter sends the
customer itself once the turn is stored.
"""

from __future__ import annotations

from adapters.telegram.inbound import Inbound, MediaOutcome, Received
from core.errors import KefuError
from core.model.turn import Audience, ContentProblem, Part, TextPart, Turn
from core.texts import Language, detect_language

_KIND_NAMES_ZH = {
    "animation": "动图", "sticker": "贴纸", "voice": "语音", "video_note": "视频消息",
    "video": "视频", "audio": "音频", "document": "文件", "contact": "联系人", "venue": "地点",
    "location": "位置", "poll": "投票", "dice": "骰子", "game": "游戏", "story": "动态",
    "paid_media": "付费内容",
}  # fmt: skip


def language_of(items: tuple[Inbound, ...]) -> Language:
    """Language for notes and notices: the customer's own words, else their client language."""
    words = "\n".join(item.text for item in items if item.text)
    if words.strip():
        return detect_language(words)
    codes = [item.language_code for item in items if item.language_code]
    return "zh" if codes and codes[0].lower().startswith("zh") else "en"


def unsupported_note(kind: str, language: Language) -> str:
    """A bracketed placeholder for an attachment kefu cannot read, e.g. ``[sticker]``."""
    if language == "zh":
        return f"[{_KIND_NAMES_ZH.get(kind, kind)}]"
    return f"[{kind.replace('_', ' ')}]"


def image_error_note(error: KefuError) -> str:
    """The note a turn carries for a photo that could not be read."""
    return f"[photo could not be read: {error.code}]"


def dedupe_id(items: tuple[Inbound, ...]) -> str:
    """The inbox dedupe id of a (possibly merged) turn.

    An album's id names the album and its items' message ids: the same items stored again
    (a redelivery, a second replica merging the album too) are one turn, while items that
    came after the album was stored become a turn of their own instead of a "duplicate".
    """
    first = items[0]
    if len(items) > 1 or first.media_group_id:
        ids = "+".join(str(i) for i in sorted({item.telegram_message_id for item in items}))
        return f"{first.key.chat_id}:album:{first.media_group_id}:{ids}"
    return first.message_id


def _parts_of(item: Inbound, media: MediaOutcome | None, language: Language) -> list[Part]:
    parts: list[Part] = []
    if media is not None and media.image is not None:
        return [media.image]  # the caption is bound to the image
    if item.text.strip():
        parts.append(TextPart(item.text))
    if media is not None and media.error is not None:
        parts.append(TextPart(image_error_note(media.error)))
    if item.unsupported is not None:
        parts.append(TextPart(unsupported_note(item.unsupported, language)))
    return parts


def build_turn(received: Received) -> Turn:
    """Merge one message or one album into exactly one turn.

    Raises:
        ValueError: ``received`` holds no items, or media not aligned with items.
    """
    if not received.items or len(received.items) != len(received.media):
        raise ValueError("received needs one media slot per item")
    pairs = sorted(zip(received.items, received.media, strict=True),
                   key=lambda pair: pair[0].telegram_message_id)  # fmt: skip
    items = tuple(item for item, _ in pairs)
    language = language_of(items)
    parts: list[Part] = []
    for item, media in pairs:
        parts.extend(_parts_of(item, media, language))
    first = items[0]
    return Turn(
        key=first.key,
        sender=first.sender,
        message_id=dedupe_id(items),
        parts=tuple(parts),
        timestamp=first.timestamp,
        reply_to=first.reply_to,
        command=first.command,
        command_arg=first.command_arg,
        problem=_problem_of(items, received.media),
        audience=Audience.GROUP if first.group else Audience.PRIVATE,
    )


def _usable(item: Inbound, media: MediaOutcome | None) -> bool:
    has_image = media is not None and media.image is not None
    return has_image or bool(item.text.strip())


def _problem_of(
    items: tuple[Inbound, ...], media: tuple[MediaOutcome | None, ...]
) -> ContentProblem | None:
    """The problem of a turn with nothing the model could read (None when it has some)."""
    if items[0].command is not None:
        return None  # a command needs nothing readable
    if any(_usable(item, outcome) for item, outcome in zip(items, media, strict=True)):
        return None
    if any(outcome is not None and outcome.error is not None for outcome in media):
        return ContentProblem.IMAGE_ERROR
    return ContentProblem.UNSUPPORTED


def notices_for(received: Received) -> tuple[str, ...]:
    """``core.texts`` keys the adapter sends directly, after the turn is stored.

    One per distinct problem: a photo that could not be read (its error's message key), or an
    unsupported attachment next to content the model can read. A turn with nothing readable
    but unsupported attachments gets no notice here: its ``UNSUPPORTED`` problem is answered
    by the core.
    """
    keys: list[str] = []
    for outcome in received.media:
        if outcome is not None and outcome.error is not None:
            keys.append(outcome.error.user_message_key)
    turn = build_turn(received)
    if turn.problem is None and any(item.unsupported for item in received.items):
        keys.append("unsupported_content")
    return tuple(dict.fromkeys(keys))
