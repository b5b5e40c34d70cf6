"""The typed, frozen multimodal turn and the reply that answers it.

Every platform message becomes one :class:`Turn` before it reaches the core; every answer
leaves the core as a :class:`Reply`. Images inside a turn are already normalised
(see :mod:`core.media.images`), so the core never sees raw platform bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Role(StrEnum):
    """Who wrote a turn."""

    CUSTOMER = "customer"
    STAFF = "staff"
    BOT = "bot"


class Command(StrEnum):
    """What a command or a pressed button asks for.

    ``TAKE``, ``RESOLVE`` and ``RETURN`` are the staff desk's actions on one handoff; the
    handoff's id travels as the turn's ``command_arg``. ``THUMBS_UP`` and ``THUMBS_DOWN`` rate
    an answer (the rated turn's id is the ``command_arg``). ``STOP`` asks to stop the answer
    being written; ``TAKEOVER`` marks a message the account's owner wrote in the customer's
    chat themselves (a Telegram business account): the bot goes quiet there.
    """

    START = "start"
    HELP = "help"
    RESET = "reset"
    HUMAN = "human"
    TAKE = "take"
    RESOLVE = "resolve"
    RETURN = "return"
    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"
    STOP = "stop"
    TAKEOVER = "takeover"
    UNKNOWN = "unknown"  # a command or button kefu does not know; ``command_arg`` has it


CUSTOMER_COMMANDS = frozenset({Command.START, Command.HELP, Command.RESET, Command.HUMAN})
DESK_ACTIONS = frozenset({Command.TAKE, Command.RESOLVE, Command.RETURN})
FEEDBACK_COMMANDS = frozenset({Command.THUMBS_UP, Command.THUMBS_DOWN})
# Commands whose button carries a numeric argument, by the prefix of their token.
_ARG_PREFIXES = {"handoff:": DESK_ACTIONS, "feedback:": FEEDBACK_COMMANDS}


class ContentProblem(StrEnum):
    """Why a turn carries nothing (or not everything) the model can read.

    The adapter keeps whatever text there was; the core answers according to the problem.
    """

    UNSUPPORTED = "unsupported"  # stickers, voice, video, other files: the core explains
    IMAGE_ERROR = "image_error"  # the photo could not be read; the adapter told the customer


class Audience(StrEnum):
    """Who reads the answers of a conversation: only the asker, or a group.

    Personal data (a customer's orders, tracking numbers) is only ever answered in a
    ``PRIVATE`` conversation; in a group everyone would read it.
    """

    PRIVATE = "private"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Identifies one conversation: a platform, a chat on it, and an optional thread.

    Attributes:
        platform: Adapter name, e.g. ``"telegram"``, ``"slack"``, ``"webhook"``.
        chat_id: The platform's chat/channel id, as a string.
        thread_id: Thread within the chat (Slack ``thread_ts``); empty when not threaded.
        source: Which sender of an adapter that serves several (a webhook source such as
            ``"shopify"``); empty for single-source platforms.
    """

    platform: str
    chat_id: str
    thread_id: str = ""
    source: str = ""

    @property
    def channel(self) -> str:
        """Platform and source as one name (``"webhook:shopify"``): the store's key column."""
        return f"{self.platform}:{self.source}" if self.source else self.platform

    def as_str(self) -> str:
        return f"{self.channel}|{self.chat_id}|{self.thread_id}"

    @classmethod
    def from_channel(cls, channel: str, chat_id: str, thread_id: str = "") -> ConversationKey:
        """The inverse of :attr:`channel` (used where keys are read back from storage)."""
        platform, _, source = channel.partition(":")
        return cls(platform, chat_id, thread_id, source)

    @classmethod
    def parse(cls, value: str) -> ConversationKey:
        """The inverse of :meth:`as_str`.

        Raises:
            ValueError: ``value`` is not ``channel|chat|thread``.
        """
        channel, chat_id, thread_id = value.split("|", 2)
        return cls.from_channel(channel, chat_id, thread_id)


@dataclass(frozen=True, slots=True)
class Sender:
    """The verified platform identity of a turn's author.

    Attributes:
        user_id: Platform user id as verified by the platform (never taken from message text).
        display_name: Human-readable name, for transcripts.
        role: Customer, staff or bot.
    """

    user_id: str
    display_name: str = ""
    role: Role = Role.CUSTOMER


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """A normalised image: RGB, EXIF-transposed, metadata-free, within the pixel budget.

    Attributes:
        data: Encoded bytes (PNG or JPEG) after normalisation.
        mime: ``"image/png"`` or ``"image/jpeg"``.
        width: Pixel width after normalisation.
        height: Pixel height after normalisation.
        sha256: Hex digest of ``data``; the store keeps images by this hash.
        caption: Text bound to this image on the platform (a Telegram caption), if any.
    """

    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    sha256: str
    caption: str = ""

    @classmethod
    def from_normalised(
        cls, data: bytes, mime: str, width: int, height: int, caption: str = ""
    ) -> ImagePart:
        return cls(data, mime, width, height, hashlib.sha256(data).hexdigest(), caption)


Part = TextPart | ImagePart


def parts_text(parts: tuple[Part, ...]) -> str:
    """The text of ``parts``: text parts and image captions joined with newlines."""
    pieces: list[str] = []
    for part in parts:
        if isinstance(part, TextPart) and part.text:
            pieces.append(part.text)
        elif isinstance(part, ImagePart) and part.caption:
            pieces.append(part.caption)
    return "\n".join(pieces)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Turn:
    """One inbound message, whatever platform it came from.

    Attributes:
        key: The conversation it belongs to.
        sender: Verified author.
        message_id: Platform message id; (platform, message_id) is the dedupe key.
        parts: Text and image parts in order.
        timestamp: When the platform says it was sent (UTC).
        reply_to: Platform message id this turn replies to, if any.
        command: The command or pressed button, if the turn is one.
        command_arg: The command's argument (a handoff id for the desk actions).
        problem: Content the model cannot read came with this turn, if set.
        audience: Whether the chat is private or a group (the adapter knows).
    """

    key: ConversationKey
    sender: Sender
    message_id: str
    parts: tuple[Part, ...]
    timestamp: datetime = field(default_factory=_utcnow)
    reply_to: str | None = None
    command: Command | None = None
    command_arg: str = ""
    problem: ContentProblem | None = None
    audience: Audience = Audience.PRIVATE

    @property
    def text(self) -> str:
        """All text parts and image captions joined with newlines."""
        return parts_text(self.parts)

    @property
    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ImagePart))


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One earlier message of the conversation, for the prompt (last N rounds)."""

    role: Role
    text: str


class ReplyKind(StrEnum):
    ANSWER = "answer"  # the bot's own answer
    NOTICE = "notice"  # a fixed text: greeting, help, unsupported content, reset
    HANDOFF = "handoff"  # tells the customer a person will reply
    RELAY = "relay"  # a staff member's words relayed to the customer
    ERROR = "error"  # a user-facing fallback after an error


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button; pressing it sends ``command`` (with ``arg``) back to kefu."""

    label: str
    command: Command
    arg: str = ""

    @property
    def token(self) -> str:
        """The button's value on a platform (callback data): ``"human"``, ``"handoff:take:12"``."""
        return command_token(self.command, self.arg)


def command_token(command: Command, arg: str = "") -> str:
    """How a command travels in a platform's button payload (see :func:`parse_command_token`)."""
    for prefix, commands in _ARG_PREFIXES.items():
        if command in commands:
            return f"{prefix}{command.value}:{arg}"
    return command.value


def parse_command_token(token: str) -> tuple[Command, str] | None:
    """``"human"`` → ``(HUMAN, "")``; ``"handoff:take:12"`` → ``(TAKE, "12")``;
    ``"feedback:thumbs_up:7"`` → ``(THUMBS_UP, "7")``; else None."""
    value = token.strip().lower()
    for prefix, commands in _ARG_PREFIXES.items():
        if value.startswith(prefix):
            verb, _, arg = value.removeprefix(prefix).partition(":")
            if verb in {c.value for c in commands} and arg.isdigit():
                return Command(verb), arg
            return None
    if value in {c.value for c in CUSTOMER_COMMANDS}:
        return Command(value), ""
    return None


@dataclass(frozen=True, slots=True)
class ConfidenceComponent:
    """One input to a confidence score, kept for the decision log."""

    name: str
    value: float
    weight: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Confidence:
    """A score in [0, 1] and the components it was computed from."""

    score: float
    components: tuple[ConfidenceComponent, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """One outbound message to a conversation.

    Attributes:
        key: Where it goes.
        text: Plain text (adapters escape it for their platform).
        kind: What sort of message this is.
        reply_to: Platform message id being answered, for threading/quoting.
        confidence: Present on bot answers.
        buttons: Inline buttons; adapters without buttons append a text fallback.
        images: Images to send (e.g. photos re-uploaded into a staff thread).
    """

    key: ConversationKey
    text: str
    kind: ReplyKind = ReplyKind.ANSWER
    reply_to: str | None = None
    confidence: Confidence | None = None
    buttons: tuple[Button, ...] = ()
    images: tuple[ImagePart, ...] = ()
