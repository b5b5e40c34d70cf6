"""Downloading photos through the Bot API without ever exposing the bot token.

``getFile`` answers with a path that PTB turns into ``<base_file_url><token>/<path>``: that
URL is a credential. It stays inside :meth:`MediaFetcher.fetch` (never returned, stored or
put in an error message), and :class:`TokenRedactingFilter` scrubs the token from the
``httpx`` and ``telegram`` loggers, which would otherwise print request URLs.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from telegram import Bot
from telegram.error import TelegramError

from adapters.telegram.inbound import MediaOutcome, MediaRef
from core.errors import FetchError, ImageError, ImageTooLargeError
from core.media.images import ImageDecoder, ImageLimits

# Loggers that print URLs or the base URL (which embeds the token) at INFO/DEBUG.
TOKEN_BEARING_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot")
REDACTED = "<redacted-bot-token>"


class TokenRedactingFilter(logging.Filter):
    """Rewrites log records so the bot token never reaches a handler."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        # Format now and drop the arguments: PTB logs a dict it then mutates to hold the
        # token-bearing file URL, so formatting later (in a handler) would leak it.
        record.msg = redact(record.getMessage(), self._token)
        record.args = None
        return True

    def install(self) -> None:
        for name in TOKEN_BEARING_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def uninstall(self) -> None:
        for name in TOKEN_BEARING_LOGGERS:
            logging.getLogger(name).removeFilter(self)


def redact(text: str, token: str) -> str:
    """``text`` with every occurrence of ``token`` replaced, also percent-encoded.

    httpx logs the file URL with the token's ``:`` encoded as ``%3A``.
    """
    if not token:
        return text
    encoded = quote(token, safe="")
    for form in {token, encoded, encoded.replace("%3A", "%3a")}:
        text = text.replace(form, REDACTED)
    return text


class MediaFetcher:
    """Fetches one image through the Bot API and normalises it off the event loop.

    Args:
        bot: The PTB bot (its token never leaves this object).
        max_file_bytes: Largest file accepted; checked before downloading.
        limits: Image limits for :func:`core.media.images.normalise_image`.
        decoder: The process's image decoder (threads, concurrency and memory limits).
    """

    def __init__(
        self,
        bot: Bot,
        max_file_bytes: int,
        limits: ImageLimits | None = None,
        decoder: ImageDecoder | None = None,
    ) -> None:
        self._bot = bot
        self._decoder = decoder or ImageDecoder()
        self._max = max_file_bytes
        base = limits or ImageLimits()
        self._limits = ImageLimits(
            max_bytes=min(base.max_bytes, max_file_bytes),
            max_pixels=base.max_pixels,
            target_pixels=base.target_pixels,
            jpeg_quality=base.jpeg_quality,
        )

    async def fetch(self, ref: MediaRef) -> MediaOutcome:
        """Download and normalise ``ref``; failures come back as the outcome's error.

        Never raises for a bad or unreachable file: the turn must still go in with its text.
        """
        try:
            data = await self._download(ref)
            image = await self._decoder.normalise(data, self._limits, ref.caption)
        except (ImageError, FetchError) as exc:
            return MediaOutcome(error=exc)
        return MediaOutcome(image=image)

    def _check_size(self, size: int | None) -> None:
        if size is not None and size > self._max:
            raise ImageTooLargeError(f"file is {size} bytes; the limit is {self._max}")

    async def _download(self, ref: MediaRef) -> bytes:
        self._check_size(ref.file_size)  # before spending any bandwidth
        token = self._bot.token
        try:
            file = await self._bot.get_file(ref.file_id)
            self._check_size(file.file_size)
            data = await file.download_as_bytearray()
        except TelegramError as exc:
            raise FetchError(f"could not fetch file: {redact(exc.message, token)}") from None
        except RuntimeError:  # PTB: the file has no path (over the 20 MB Bot API limit)
            raise FetchError("Telegram gave no download path for the file") from None
        self._check_size(len(data))
        return bytes(data)
