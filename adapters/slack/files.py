"""Download the images attached to Slack messages, inside the 3-second ack budget.

Private file URLs need ``Authorization: Bearer <bot token>``; without it (or when the token
lacks ``files:read``) Slack answers 200 with an HTML login page, which other bots have
mistaken for the image. Every download is therefore checked: host allowlist (the token is
never sent anywhere else), no redirects, size cap (declared size, ``Content-Length`` and the
stream itself), and HTML refusal by content type and by sniffing the first bytes.

Budget: all files of one message are fetched concurrently and must be downloaded *and*
normalised before a shared deadline (``ack_budget_s`` after the event arrived). A file that
misses it, fails, or is not an image becomes a short bracketed note in the turn's text that
names the file and its Slack file id, so the turn is stored in time and nothing is lost
silently: staff (or a later re-fetch through ``files.info``) can still find the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from adapters.slack.payloads import SlackFile
from core.errors import FetchError, ImageError
from core.media.images import ImageDecoder, ImageLimits
from core.model.turn import ImagePart, Part, TextPart

CHUNK_BYTES = 64 * 1024
HTML_PREFIXES = (b"<!doctype", b"<html", b"<head", b"<?xml")


@dataclass(frozen=True, slots=True)
class FileFetchPolicy:
    """Limits of one fetcher.

    Attributes:
        bot_token: Sent as a Bearer token, only to ``allowed_hosts``.
        allowed_hosts: Host names the token may be sent to.
        max_bytes: Largest file downloaded.
        image_limits: Limits passed to :func:`core.media.images.normalise_image`.
    """

    bot_token: str
    allowed_hosts: frozenset[str]
    max_bytes: int
    image_limits: ImageLimits


def looks_like_html(head: bytes) -> bool:
    """True if the first bytes of a body are an HTML (or XML) document, not an image."""
    return head.lstrip()[:16].lower().startswith(HTML_PREFIXES)


def file_note(file: SlackFile, reason: str) -> TextPart:
    """The note that stands in for a file kefu could not include."""
    return TextPart(f"[file {file.name} ({file.file_id}) not included: {reason}]")


class SlackFileFetcher:
    """Fetches and normalises message attachments.

    Args:
        session: Shared aiohttp session (owned by the adapter).
        policy: Token, host allowlist and limits.
        decoder: The process's image decoder (threads, concurrency and memory limits).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        policy: FileFetchPolicy,
        decoder: ImageDecoder | None = None,
    ) -> None:
        self._session = session
        self._policy = policy
        self._decoder = decoder or ImageDecoder()

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise FetchError("file has no downloadable URL")
        if parts.hostname not in self._policy.allowed_hosts:
            raise FetchError(f"refusing to send the bot token to host {parts.hostname}")

    async def download(self, file: SlackFile) -> bytes:
        """Download one private file with the bot token.

        Raises:
            FetchError: bad host, non-200 or redirect, HTML instead of a file, or too large.
        """
        limit = self._policy.max_bytes
        if file.size > limit:
            raise FetchError(f"file is {file.size} bytes; the limit is {limit}")
        self._check_url(file.url)
        headers = {"Authorization": f"Bearer {self._policy.bot_token}"}
        try:
            async with self._session.get(file.url, headers=headers, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise FetchError(f"file download answered HTTP {resp.status}")
                if resp.content_type == "text/html":
                    raise FetchError("got an HTML page instead of the file (login page?)")
                if resp.content_length is not None and resp.content_length > limit:
                    raise FetchError(f"file is {resp.content_length} bytes; the limit is {limit}")
                return await self._read_capped(resp, limit)
        except aiohttp.ClientError as exc:
            raise FetchError(f"file download failed: {type(exc).__name__}") from exc

    @staticmethod
    async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
        body = bytearray()
        async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
            if not body and looks_like_html(chunk):
                raise FetchError("got an HTML page instead of the file (login page?)")
            body.extend(chunk)
            if len(body) > limit:
                raise FetchError(f"file exceeds the limit of {limit} bytes")
        if looks_like_html(bytes(body[:64])):
            raise FetchError("got an HTML page instead of the file (login page?)")
        return bytes(body)

    async def fetch_image(self, file: SlackFile) -> ImagePart:
        """Download and normalise one image file (Pillow work runs in a thread).

        Raises:
            FetchError: the download failed or was refused.
            ImageError: the bytes are not an acceptable image.
        """
        data = await self.download(file)
        return await self._decoder.normalise(data, self._policy.image_limits)

    async def _part_for(self, file: SlackFile, deadline: float) -> Part:
        if file.mode in ("tombstone", "hidden_by_limit") or not file.url:
            return file_note(file, "Slack did not make the file available")
        if not file.is_image:
            return file_note(
                file, f"{file.mimetype or 'this file type'} is not supported, only images"
            )
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return file_note(file, "no time left to download it before acknowledging Slack")
        try:
            async with asyncio.timeout(remaining):
                return await self.fetch_image(file)
        except TimeoutError:
            return file_note(file, "download did not finish within the acknowledgement budget")
        except (FetchError, ImageError) as exc:
            return file_note(file, f"{exc.code}: {exc}")

    async def parts_for(self, files: Sequence[SlackFile], deadline: float) -> tuple[Part, ...]:
        """Turn a message's files into image parts or notes, in order, by ``deadline``.

        Args:
            files: The message's files.
            deadline: ``loop.time()`` by which every file must be done.
        """
        if not files:
            return ()
        results = await asyncio.gather(*(self._part_for(f, deadline) for f in files))
        return tuple(results)
