"""Test helpers: turns, photos and a scripted OCR reader (no model)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from types import SimpleNamespace

from PIL import Image

from core.media.images import normalise_image
from core.model.turn import ConversationKey, ImagePart, Part, Role, Sender, TextPart, Turn


def photo(colour: tuple[int, int, int]) -> ImagePart:
    """A small, real, normalised PNG (distinct colours give distinct sha256)."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return normalise_image(buffer.getvalue())


@dataclass
class ScriptedOcr:
    """Answers ``read`` with the text scripted for each image's sha256."""

    texts: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def script(self, image: ImagePart, text: str) -> ImagePart:
        self.texts[image.sha256] = text
        return image

    async def read(self, image: ImagePart) -> SimpleNamespace:
        self.calls.append(image.sha256)
        return SimpleNamespace(text=self.texts.get(image.sha256, ""), lines=())


def turn(
    text: str = "",
    *,
    user: str = "1001",
    platform: str = "telegram",
    images: tuple[ImagePart, ...] = (),
    role: Role = Role.CUSTOMER,
    command: str | None = None,
    chat: str | None = None,
) -> Turn:
    parts: list[Part] = [TextPart(text)] if text else []
    parts.extend(images)
    key = ConversationKey(platform, chat or f"chat-{user}")
    return Turn(
        key,
        Sender(user, f"user {user}", role),
        f"m-{abs(hash((text, user, images)))}",
        tuple(parts),
        command=command,
    )
