"""Telegram updates to kefu turns, in two pure steps.

1. :func:`parse_update` reads a PTB ``Update`` into an :class:`Inbound`: who, where, what
   text, which file to fetch, which command, whether the bot was addressed. No I/O.
2. The adapter downloads the referenced photos (``media.py``), then :func:`build_turn`
   merges one message, or every item of an album, into exactly one :class:`Turn`.

Choices worth knowing:

* **Dedupe ids**: ``"<chat>:<message_id>"`` for messages,
  ``"<chat>:album:<media_group_id>:<id>+<id>…"`` for albums (the message ids merged),
  ``"<chat>:<message_id>:edit:<edit_unix_ts>"`` for edits and
  ``"callback:<query_id>"`` for button presses.
* **Edits** become a new turn (the customer corrected their question, so the bot answers the
  corrected text); the ``:edit:`` id marks it as an edit and dedupes on (message, edit_date).
* **Groups**: a message is stored only when it addresses the bot (an ``@bot`` mention, a
  reply to one of the bot's messages, or a command for this bot); anything else is not
  stored at all, since it is other people's conversation.
* **Unreadable or unsupported parts** never lose the text: the turn keeps the text and
  caption plus a bracketed note (``[photo could not be read: …]``). When nothing usable is
  left, the turn carries ``problem=UNSUPPORTED`` (stickers, voice, video…: the core answers
  with ``core.texts`` "unsupported_content") or ``problem=IMAGE_ERROR`` (the photo could not be
  read; the adapter has already told the customer why, see :func:`notices_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from telegram import CallbackQuery, Message, MessageEntity, Update

from core.errors import KefuError
from core.model.turn import (
    CUSTOMER_COMMANDS,
    Audience,
    Command,
    ContentProblem,
    ConversationKey,
    ImagePart,
    Part,
    Role,
    Sender,
    TextPart,
    Turn,
)
from core.texts import Language, detect_language

PLATFORM = "telegram"
KNOWN_COMMANDS: dict[str, Command] = {c.value: c for c in CUSTOMER_COMMANDS}
GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})
# Checked in this order: an animation (GIF) also carries a ``document``.
UNSUPPORTED_KINDS = (
    "animation", "sticker", "voice", "video_note", "video", "audio", "document",
    "contact", "venue", "location", "poll", "dice", "game", "story", "paid_media",
)  # fmt: skip
_KIND_NAMES_ZH = {
    "animation": "动图", "sticker": "贴纸", "voice": "语音", "video_note": "视频消息",
    "video": "视频", "audio": "音频", "document": "文件", "contact": "联系人", "venue": "地点",
    "location": "位置", "poll": "投票", "dice": "骰子", "game": "游戏", "story": "动态",
    "paid_media": "付费内容",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """The bot's own account (from ``getMe``), to recognise mentions and replies to it."""

    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A photo (largest size) or image document to download.

    Attributes:
        file_id: Telegram file id (never a URL: the URL carries the bot token).
        file_size: Size Telegram announced, checked against the limit before downloading.
        caption: The caption bound to this image.
    """

    file_id: str
    file_size: int | None
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One understood update, before any download.

    Attributes:
        update_id: Telegram update id (polling offsets).
        key: Conversation key.
        sender: Verified author (``from_user``).
        message_id: kefu dedupe id (see module docstring).
        telegram_message_id: The raw message id, for ordering album items.
        text: Message text (or caption of an unsupported attachment).
        media: The image to download, if any; its caption travels with it.
        media_group_id: Album id; items sharing it become one turn.
        command: A customer command (``/start``, ``/help``, ``/human``, ``/reset``), ``UNKNOWN``
            for another ``/word`` meant for this bot (it gets help), or None.
        command_arg: The unknown command's word.
        unsupported: Kind of attachment kefu cannot read (``"sticker"``), if any.
        reply_to: kefu id of the message this one replies to.
        timestamp: When Telegram says it was sent.
        addressed: The bot should answer (always in private chats).
        language_code: The user's Telegram client language, a fallback for notices.
        callback_query_id: Set for button presses (answered with answerCallbackQuery).
        group: Sent in a group or supergroup (everyone there reads the answer).
    """

    update_id: int
    key: ConversationKey
    sender: Sender
    message_id: str
    telegram_message_id: int
    text: str = ""
    media: MediaRef | None = None
    media_group_id: str | None = None
    command: Command | None = None
    command_arg: str = ""
    unsupported: str | None = None
    reply_to: str | None = None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    addressed: bool = True
    language_code: str = ""
    callback_query_id: str | None = None
    group: bool = False


@dataclass(frozen=True, slots=True)
class MediaOutcome:
    """The result of fetching and normalising one :class:`MediaRef`: an image or an error."""

    image: ImagePart | None = None
    error: KefuError | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """What :meth:`TelegramAdapter.to_turn` translates: items plus their fetched media.

    Attributes:
        items: One message, or every item of one album.
        media: Aligned with ``items``; None where an item has no media.
    """

    items: tuple[Inbound, ...]
    media: tuple[MediaOutcome | None, ...]


def parse_update(update: Update, bot: BotIdentity) -> Inbound | None:
    """Understand one update; None when there is nothing for kefu in it.

    Service messages, messages from other bots, channel posts and inline-mode button
    presses give None.
    """
    if update.callback_query is not None:
        return _parse_callback(update.update_id, update.callback_query)
    message = update.message or update.edited_message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    return parse_message(update.update_id, message, bot, edited=update.message is None)


def _key_of(message: Message) -> ConversationKey:
    # message_thread_id also marks plain reply chains in supergroups; only forum topics
    # are separate conversations.
    thread = message.message_thread_id if message.is_topic_message else None
    return ConversationKey(PLATFORM, str(message.chat.id), str(thread or ""))


def _sender_of(message: Message | CallbackQuery) -> Sender:
    user = message.from_user
    assert user is not None  # checked by the callers
    return Sender(str(user.id), user.full_name, Role.CUSTOMER)


def _parse_callback(update_id: int, query: CallbackQuery) -> Inbound | None:
    message = query.message
    if message is None:
        return None  # inline-mode button: no chat to answer in
    chat_id = message.chat.id
    thread = message.message_thread_id if isinstance(message, Message) else None
    topic = isinstance(message, Message) and message.is_topic_message
    command = KNOWN_COMMANDS.get((query.data or "").strip().lower())
    return Inbound(
        update_id=update_id,
        key=ConversationKey(PLATFORM, str(chat_id), str(thread or "") if topic else ""),
        sender=_sender_of(query),
        message_id=f"callback:{query.id}",
        telegram_message_id=message.message_id,
        text=f"/{command.value}" if command else "",
        command=command,
        addressed=command is not None,
        language_code=query.from_user.language_code or "",
        callback_query_id=query.id,
    )


def _message_ids(message: Message, edited: bool) -> tuple[str, str | None]:
    chat_id = message.chat.id
    if edited:
        edit_ts = int(message.edit_date.timestamp()) if message.edit_date else 0
        own = f"{chat_id}:{message.message_id}:edit:{edit_ts}"
    else:
        own = f"{chat_id}:{message.message_id}"
    reply = message.reply_to_message
    return own, (f"{chat_id}:{reply.message_id}" if reply is not None else None)


def parse_message(
    update_id: int, message: Message, bot: BotIdentity, edited: bool
) -> Inbound | None:
    """Understand one message (of the bot's own chats or of a business account's)."""
    text = message.text or message.caption or ""
    command, for_other_bot = _command_of(message, bot)
    media, unsupported = _attachment_of(message)
    if not text.strip() and media is None and unsupported is None:
        return None  # service message: member joined, pinned, …
    group = message.chat.type in GROUP_CHAT_TYPES
    command, command_arg = _unknown_command(command, text, bot, group, for_other_bot, message)
    addressed = not group or (
        not for_other_bot
        and (command is not None or _mentions(message, bot) or _replies_to(message, bot))
    )
    own_id, reply_to = _message_ids(message, edited)
    user = message.from_user
    assert user is not None
    return Inbound(
        update_id=update_id,
        key=_key_of(message),
        sender=_sender_of(message),
        message_id=own_id,
        telegram_message_id=message.message_id,
        text=_strip_mention(text, bot) if group else text,
        media=media,
        media_group_id=None if edited else message.media_group_id,
        command=command,
        command_arg=command_arg,
        unsupported=unsupported,
        reply_to=reply_to,
        timestamp=message.date,
        addressed=addressed,
        language_code=user.language_code or "",
        group=group,
    )


def _attachment_of(message: Message) -> tuple[MediaRef | None, str | None]:
    caption = message.caption or ""
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return MediaRef(largest.file_id, largest.file_size, caption), None
    document = message.document
    is_image = document is not None and (document.mime_type or "").lower().startswith("image/")
    if document is not None and is_image and message.animation is None:
        return MediaRef(document.file_id, document.file_size, caption), None
    for kind in UNSUPPORTED_KINDS:
        if getattr(message, kind, None):
            return None, kind
    return None, None


def _command_of(message: Message, bot: BotIdentity) -> tuple[Command | None, bool]:
    """(known command for this bot or None, whether the command names another bot)."""
    text = message.text or ""
    entities = message.entities or ()
    if not any(e.type == MessageEntity.BOT_COMMAND and e.offset == 0 for e in entities):
        return None, False
    name, _, target = text.split(maxsplit=1)[0][1:].partition("@")
    if target and target.lower() != bot.username.lower():
        return None, True
    return KNOWN_COMMANDS.get(name.lower()), False


def _unknown_command(
    command: Command | None,
    text: str,
    bot: BotIdentity,
    group: bool,
    for_other_bot: bool,
    message: Message,
) -> tuple[Command | None, str]:
    """A ``/word`` this bot does not know becomes ``UNKNOWN`` (help, never a handoff): in
    private chats, or in groups when it names this bot (``/word@thisbot``)."""
    entities = message.entities or ()
    starts = any(e.type == MessageEntity.BOT_COMMAND and e.offset == 0 for e in entities)
    if command is not None or for_other_bot or not starts:
        return command, ""
    name, _, target = text.split(maxsplit=1)[0][1:].partition("@")
    if group and target.lower() != bot.username.lower():
        return None, ""
    return Command.UNKNOWN, name[:64]


def _mentions(message: Message, bot: BotIdentity) -> bool:
    handle = f"@{bot.username}".lower()
    for entities in (
        message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
        message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]),
    ):
        for entity, value in entities.items():
            if entity.type == MessageEntity.MENTION and value.lower() == handle:
                return True
            if entity.user is not None and entity.user.id == bot.user_id:
                return True
    return False


def _replies_to(message: Message, bot: BotIdentity) -> bool:
    original = message.reply_to_message
    return bool(original and original.from_user and original.from_user.id == bot.user_id)


def _strip_mention(text: str, bot: BotIdentity) -> str:
    """Drop ``@bot`` from a group message, unless that would leave nothing."""
    handle = f"@{bot.username}"
    lowered = text.lower()
    start = lowered.find(handle.lower())
    if start < 0:
        return text
    stripped = " ".join((text[:start] + text[start + len(handle) :]).split())
    return stripped or text


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
