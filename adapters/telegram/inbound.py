"""Telegram updates to kefu turns, in two pure steps.

1. :func:`parse_update` reads a PTB ``Update`` into an :class:`Inbound`: who, where, what
   text, which file to fetch, which command, whether the bot was addressed. No I/O.
2. The adapter downloads the referenced photos (``media.py``), then
   :func:`adapters.telegram.turns.build_turn` merges one message, or every item of an
   album, into exactly one :class:`~core.model.turn.Turn`.

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
  read; the adapter has already told the customer why, see
  :func:`adapters.telegram.turns.notices_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from telegram import CallbackQuery, Message, MessageEntity, Update

from core.errors import KefuError
from core.model.turn import (
    CUSTOMER_COMMANDS,
    Command,
    ConversationKey,
    ImagePart,
    Role,
    Sender,
)

PLATFORM = "telegram"
KNOWN_COMMANDS: dict[str, Command] = {c.value: c for c in CUSTOMER_COMMANDS}
GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})
# Checked in this order: an animation (GIF) also carries a ``document``.
UNSUPPORTED_KINDS = (
    "animation", "sticker", "voice", "video_note", "video", "audio", "document",
    "contact", "venue", "location", "poll", "dice", "game", "story", "paid_media",
)  # fmt: skip


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
