"""The terminal adapter behind ``main.py chat``: a shop owner talks to the bot locally.

It goes through the same inbox, worker and outbox as every platform, so what the owner
sees in the terminal is what a customer would get.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TextIO

from adapters.terminal.settings import TerminalSettings
from core.errors import ImageError, InvalidInputError
from core.media.images import normalise_image
from core.model.turn import (
    CUSTOMER_COMMANDS,
    Command,
    ConversationKey,
    Part,
    Reply,
    Sender,
    TextPart,
    Turn,
)
from core.ports import Adapter, AdapterContext, Capabilities, DeliveryReceipt, OutboundMessage


@dataclass(frozen=True, slots=True)
class TerminalLine:
    """One line the owner typed: text, with ``/image PATH`` optionally in front."""

    text: str
    image_path: Path | None = None
    command: Command | None = None
    command_arg: str = ""


# "/word" alone or followed by text: a command (a path such as "/tmp/x" is not one).
_COMMAND = re.compile(r"^/([A-Za-z_][\w-]*)(?:\s|$)")


def parse_line(line: str) -> TerminalLine:
    """Parse ``/image PATH rest``, ``/reset``, ``/human``, ``/help``, or plain text.

    Any other ``/word`` is an unknown command (the bot answers it with help).

    Raises:
        InvalidInputError: ``/image`` without a path.
    """
    stripped = line.strip()
    if stripped.startswith("/image"):
        rest = stripped.removeprefix("/image").strip()
        if not rest:
            raise InvalidInputError("usage: /image PATH [question]")
        path, _, question = rest.partition(" ")
        return TerminalLine(question.strip(), Path(path).expanduser())
    for command in CUSTOMER_COMMANDS:
        if stripped == f"/{command.value}":
            return TerminalLine("", command=command)
    unknown = _COMMAND.match(stripped)
    if unknown is not None:
        return TerminalLine("", command=Command.UNKNOWN, command_arg=unknown.group(1)[:64])
    return TerminalLine(stripped)


@dataclass
class _LiveStream:
    out: TextIO
    text: str = ""
    ref: str | None = field(default_factory=lambda: f"draft-{uuid.uuid4().hex[:8]}")

    async def update(self, text_so_far: str) -> None:
        self.out.write(text_so_far[len(self.text) :])
        self.out.flush()
        self.text = text_so_far

    async def close(self) -> None:
        return None


class TerminalAdapter(Adapter[TerminalLine, str]):
    """Reads typed lines, prints streamed answers.

    Args:
        context: Adapter context.
        out: Where answers are printed.
        user: The owner's identity in the store.
    """

    name: ClassVar[str] = "terminal"
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, images=True, max_message_chars=100_000
    )

    def __init__(
        self,
        context: AdapterContext,
        settings: TerminalSettings | None = None,
        *,
        out: TextIO | None = None,
    ) -> None:
        super().__init__(context)
        self.out = out or sys.stdout
        self.key = ConversationKey(self.name, (settings or TerminalSettings()).chat_id)
        self.sender = Sender("owner", "Shop owner")
        self.image_limits = context.image_limits
        self.replies: asyncio.Queue[Reply] = asyncio.Queue()
        self._streams: dict[str, _LiveStream] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def to_turn(self, raw: TerminalLine) -> Turn:
        parts: list[Part] = []
        if raw.image_path is not None:
            try:
                data = raw.image_path.read_bytes()
            except OSError as exc:
                raise ImageError(f"cannot read {raw.image_path}: {exc.strerror}") from exc
            parts.append(normalise_image(data, self.image_limits))
        if raw.text:
            parts.append(TextPart(raw.text))
        return Turn(
            self.key, self.sender, uuid.uuid4().hex, tuple(parts),
            command=raw.command, command_arg=raw.command_arg,
        )  # fmt: skip

    def to_platform(self, reply: Reply) -> list[str]:
        lines = [reply.text]
        if reply.confidence is not None:
            lines.append(f"   [confidence {reply.confidence.score:.2f}]")
        if reply.buttons:
            lines.append("   [" + " | ".join(f"{b.label}: /{b.token}" for b in reply.buttons) + "]")
        return ["\n".join(lines)]

    async def send(self, line: str) -> int:
        """Store one typed line as a turn; returns its turn id."""
        result = await self.context.inbox.put(self.to_turn(parse_line(line)))
        return result.turn_id

    async def open_stream(self, key: ConversationKey, reply_to: str | None) -> _LiveStream:
        self.out.write("bot> ")
        stream = _LiveStream(self.out)
        assert stream.ref is not None
        self._streams[stream.ref] = stream
        return stream

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        text = self.to_platform(message.reply)[0]
        streamed = self._streams.pop(message.stream_ref, None) if message.stream_ref else None
        shown = streamed.text.strip() if streamed is not None else ""
        if streamed is not None and shown and text.startswith(shown):
            self.out.write(text[len(shown) :] + "\n")  # finish the line already on screen
        else:
            prefix = "\n" if streamed is not None else ""
            self.out.write(f"{prefix}bot> {text}\n")
        self.out.flush()
        await self.replies.put(message.reply)
        return DeliveryReceipt((str(message.outbox_id),))
