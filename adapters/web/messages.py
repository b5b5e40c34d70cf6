"""What the chat page sends: one message as multipart form data, read within limits.

Fields: ``client_id`` (the page's id of the message, so a resend is stored once), ``text``,
``command`` (a button: ``human``, ``reset``, ``help``) and any number of ``image`` files up
to ``web.max_images``. A typed ``/word`` is a command too; an unknown one gets help.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from core.errors import ImageError, InvalidInputError
from core.media.images import ImageLimits, normalise_image
from core.model.turn import CUSTOMER_COMMANDS, Command, ImagePart

MAX_TEXT_CHARS = 4000
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_COMMAND = re.compile(r"^/([A-Za-z_][\w-]*)(?:\s|$)")
_KNOWN = {c.value: c for c in CUSTOMER_COMMANDS}
_FIELDS = ("client_id", "text", "command")


@dataclass(frozen=True, slots=True)
class RawUpload:
    """A message as received: text and undecoded photos."""

    client_id: str
    text: str
    command: Command | None
    command_arg: str
    photos: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class WebMessage:
    """A message ready to become a turn: its photos already normalised."""

    chat_id: str
    client_id: str
    text: str
    images: tuple[ImagePart, ...] = ()
    command: Command | None = None
    command_arg: str = ""


def parse_command(text: str, button: str = "") -> tuple[Command | None, str]:
    """The command a button or a typed ``/word`` asks for (``UNKNOWN`` with the word)."""
    if button:
        known = _KNOWN.get(button.strip().lower())
        return (known, "") if known else (Command.UNKNOWN, button[:64])
    typed = _COMMAND.match(text.strip())
    if typed is None:
        return None, ""
    word = typed.group(1).lower()
    return (_KNOWN[word], "") if word in _KNOWN else (Command.UNKNOWN, word[:64])


async def read_upload(request: web.Request, max_images: int, max_bytes: int) -> RawUpload:
    """Read the form, refusing what is over the limits before it is all in memory.

    Raises:
        InvalidInputError: not a multipart form, no client id, nothing to send, too many
            photos or too much text.
        ImageError: a photo larger than ``max_bytes``.
    """
    fields: dict[str, str] = {}
    photos: list[bytes] = []
    if request.content_type == "application/x-www-form-urlencoded":  # text only
        form = await request.post()
        fields = {name: str(form.get(name, "")) for name in _FIELDS}
    elif request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InvalidInputError("nested multipart is not accepted")
            if part.name == "image":
                if len(photos) >= max_images:
                    raise InvalidInputError(f"at most {max_images} photos per message")
                photos.append(await _read_limited(part, max_bytes))
            elif part.name in _FIELDS:
                fields[part.name] = (await part.text())[: MAX_TEXT_CHARS + 1]
    else:
        raise InvalidInputError("send the message as multipart/form-data")
    client_id = fields.get("client_id", "")
    if not _CLIENT_ID.match(client_id):
        raise InvalidInputError("client_id must be 8-64 letters, digits, - or _")
    text = fields.get("text", "").strip()
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInputError(f"a message holds at most {MAX_TEXT_CHARS} characters")
    command, arg = parse_command(text, fields.get("command", ""))
    if command is None and not text and not photos:
        raise InvalidInputError("the message is empty")
    # A command keeps its words (a button's label): they say which language to answer in.
    return RawUpload(client_id, text, command, arg, tuple(photos))


async def _read_limited(part: BodyPartReader, max_bytes: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data.extend(chunk)
        if len(data) > max_bytes:
            raise ImageError(f"a photo is over {max_bytes} bytes")
    return bytes(data)


async def normalise_photos(
    photos: tuple[bytes, ...], limits: ImageLimits, slots: asyncio.Semaphore
) -> tuple[ImagePart, ...]:
    """Decode and normalise photos on threads (never on the event loop), a few at a time.

    Raises:
        ImageError: a photo cannot be read.
    """

    async def one(data: bytes) -> ImagePart:
        async with slots:
            return await asyncio.to_thread(normalise_image, data, limits)

    return tuple(await asyncio.gather(*(one(p) for p in photos)))
