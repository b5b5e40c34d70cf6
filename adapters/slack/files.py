"""Download the images attached to Slack messages, inside the 3-second ack budget.

Private file URLs need ``Authorization: Bearer <bot token>``; without it (or when the token
lacks ``files:read``) Slack answers 200 with an HTML login page, which other bots have
mistaken for the image. Every download is therefore checked: host allowlist (the token is
never sent anywhere else), no redirects, size cap (declared size, ``Content-Length`` and the
stream itself), and HTML refusal by content type and by sniffing the first bytes.

Budget: all files of one message are fetched concurrently and should be downloaded *and*
normalised before a shared deadline (``ack_budget_s`` after the event arrived). A file that
fails or is not an image becomes a short bracketed note in the turn's text that names the
file and its Slack file id. A file that merely misses the deadline is a :class:`LateFile`:
its download keeps running, and :mod:`adapters.slack.deferred` stores the turn held until
the file is in (or given up as a note). Without a place to hold turns it becomes a note too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from adapters.slack.payloads import SlackFile
from core.errors import FetchError, ImageError, TransientFetchError
from core.media.images import ImageDecoder, ImageLimits
from core.model.turn import ImagePart, Part, TextPart

CHUNK_BYTES = 64 * 1024
HTML_PREFIXES = (b"<!doctype", b"<html", b"<head", b"<?xml")
LATE_REASON = "download did not finish within the acknowledgement budget"


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


@dataclass(frozen=True, slots=True)
class LateFile:
    """A file not in by the acknowledgement deadline (only a timeout, never a refusal).

    Attributes:
        index: Its position among the message's attachments (its note stands there).
        file: The file.
        download: Its download, still running (None: there was no time to start it).
    """

    index: int
    file: SlackFile
    download: asyncio.Task[ImagePart] | None = None


@dataclass(frozen=True, slots=True)
class Collected:
    """A message's attachments at the deadline: parts in order (notes where files are
    late) and the late files."""

    parts: tuple[Part, ...]
    late: tuple[LateFile, ...] = ()

    def cancel(self) -> None:
        """Stop the late downloads (the turn was a duplicate, or was not stored)."""
        for late in self.late:
            if late.download is not None:
                late.download.cancel()


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
                if resp.status == 429 or resp.status >= 500:
                    raise TransientFetchError(f"file download answered HTTP {resp.status}")
                if resp.status != 200:
                    raise FetchError(f"file download answered HTTP {resp.status}")
                if resp.content_type == "text/html":
                    raise FetchError("got an HTML page instead of the file (login page?)")
                if resp.content_length is not None and resp.content_length > limit:
                    raise FetchError(f"file is {resp.content_length} bytes; the limit is {limit}")
                return await self._read_capped(resp, limit)
        except aiohttp.ClientError as exc:
            raise TransientFetchError(f"file download failed: {type(exc).__name__}") from exc

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

    async def collect(
        self, files: Sequence[SlackFile], deadline: float, *, keep_late: bool
    ) -> Collected:
        """Turn a message's files into image parts or notes, in order, by ``deadline``.

        Args:
            files: The message's files.
            deadline: ``loop.time()`` by which every file should be done.
            keep_late: Keep downloads that miss the deadline running (as :class:`LateFile`)
                instead of cancelling them; their notes say the budget was missed.
        """
        parts: list[Part | None] = [_refusal(file) for file in files]
        remaining = deadline - asyncio.get_running_loop().time()
        downloads = {
            index: asyncio.ensure_future(self.fetch_image(file))
            for index, file in enumerate(files)
            if parts[index] is None and remaining > 0
        }
        try:
            if downloads:
                await asyncio.wait(downloads.values(), timeout=remaining)
        except BaseException:
            for started in downloads.values():
                started.cancel()
            raise
        late: list[LateFile] = []
        for index, file in enumerate(files):
            if parts[index] is not None:
                continue
            download = downloads.get(index)
            if download is not None and download.done():
                parts[index] = _outcome(file, download)
                continue
            if keep_late:
                late.append(LateFile(index, file, download))
            elif download is not None:
                download.cancel()
            reason = LATE_REASON if download is not None else _NO_TIME
            parts[index] = file_note(file, reason)
        return Collected(tuple(p for p in parts if p is not None), tuple(late))

    async def parts_for(self, files: Sequence[SlackFile], deadline: float) -> tuple[Part, ...]:
        """Turn a message's files into image parts or notes, in order, by ``deadline``
        (a file that misses it is cancelled and becomes a note)."""
        if not files:
            return ()
        return (await self.collect(files, deadline, keep_late=False)).parts


_NO_TIME = "no time left to download it before acknowledging Slack"


def _refusal(file: SlackFile) -> TextPart | None:
    """The note for a file kefu does not download at all; None for an image to fetch."""
    if file.mode in ("tombstone", "hidden_by_limit") or not file.url:
        return file_note(file, "Slack did not make the file available")
    if not file.is_image:
        return file_note(file, f"{file.mimetype or 'this file type'} is not supported, only images")
    return None


def _outcome(file: SlackFile, task: asyncio.Task[ImagePart]) -> Part:
    """A finished download's image, or the note for its failure."""
    error = task.exception()
    if error is None:
        return task.result()
    if isinstance(error, FetchError | ImageError):
        return file_note(file, f"{error.code}: {error}")
    raise error
