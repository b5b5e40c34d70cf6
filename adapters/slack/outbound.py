"""Web API output calls, translated into kefu errors: post, edit, delete, upload.

Every call goes through :func:`api_call`, so a 429 is always a
:class:`core.errors.RateLimitedError` carrying ``Retry-After`` and the outbox dispatcher
waits it out and delivers once. Every thread the bot posts into is remembered, so replies
in it are answered (see :class:`adapters.slack.threads.KnownThreads`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import errors as slack_errors
from adapters.slack.formatting import SlackOutgoing
from adapters.slack.threads import KnownThreads
from core.errors import PlatformError
from core.model.turn import ImagePart

T = TypeVar("T")


async def api_call(method: str, call: Awaitable[T], *, startup: bool = False) -> T:
    """Await one slack-sdk call, raising kefu errors.

    Args:
        method: Web API method name, for messages.
        call: The pending slack-sdk coroutine.
        startup: Treat a rejected token as :class:`core.errors.AuthenticationError`.

    Raises:
        RateLimitedError, PermanentDeliveryError, PlatformError, AuthenticationError.
    """
    try:
        return await call
    except SlackApiError as exc:
        translate = slack_errors.translate_startup if startup else slack_errors.translate
        raise translate(exc, method) from exc
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise PlatformError(f"Slack {method} failed: {type(exc).__name__}") from exc


class SlackWebApi:
    """The output side of the Web API, for one bot token.

    Args:
        client: slack-sdk client holding the bot token.
        threads: Threads the bot is in; updated on every post.
    """

    def __init__(self, client: AsyncWebClient, threads: KnownThreads) -> None:
        self.client = client
        self._threads = threads

    async def post(self, channel: str, piece: SlackOutgoing, thread_ts: str | None) -> str:
        """``chat.postMessage``; returns the new message's ts."""
        kwargs: dict[str, Any] = {"channel": channel, "text": piece.text, "thread_ts": thread_ts}
        if piece.blocks:
            kwargs["blocks"] = list(piece.blocks)
        result = await api_call("chat.postMessage", self.client.chat_postMessage(**kwargs))
        ts = str(result.get("ts") or "")
        self._threads.add(channel, thread_ts or ts)
        return ts

    async def update(self, channel: str, ts: str, piece: SlackOutgoing) -> None:
        """``chat.update``; an empty ``blocks`` list clears a preview's blocks."""
        call = self.client.chat_update(
            channel=channel, ts=ts, text=piece.text, blocks=list(piece.blocks)
        )
        await api_call("chat.update", call)

    async def delete(self, channel: str, ts: str) -> None:
        await api_call("chat.delete", self.client.chat_delete(channel=channel, ts=ts))

    async def finish_draft(
        self, channel: str, draft_ts: str, piece: SlackOutgoing, thread_ts: str | None
    ) -> str:
        """Edit a streamed draft into ``piece``; post anew when Slack refuses the edit.

        Returns:
            The ts of the message now holding ``piece``.
        """
        try:
            await self.update(channel, draft_ts, piece)
        except PlatformError as exc:
            cause = exc.__cause__
            if isinstance(cause, SlackApiError) and (
                slack_errors.error_code(cause) in slack_errors.UNEDITABLE_ERRORS
            ):
                return await self.post(channel, piece, thread_ts)
            raise
        return draft_ts

    async def upload_image(
        self, channel: str, thread_ts: str | None, image: ImagePart, title: str
    ) -> str:
        """Upload through files.getUploadURLExternal + completeUploadExternal; returns the file id."""
        extension = "png" if image.mime == "image/png" else "jpg"
        call = self.client.files_upload_v2(
            content=image.data,
            filename=f"{image.sha256[:12]}.{extension}",
            title=title,
            channel=channel,
            thread_ts=thread_ts,
        )
        result = await api_call("files.completeUploadExternal", call)
        if thread_ts:
            self._threads.add(channel, thread_ts)
        files = result.get("files")
        if isinstance(files, list) and files and isinstance(files[0], dict):
            return str(files[0].get("id", ""))
        return ""

    async def post_preview(self, channel: str, text: str, thread_ts: str | None) -> str:
        return await self.post(channel, SlackOutgoing(text), thread_ts)

    async def update_preview(self, channel: str, ts: str, text: str) -> None:
        await self.update(channel, ts, SlackOutgoing(text))
